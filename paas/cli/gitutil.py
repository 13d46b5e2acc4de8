"""The 'paas' git remote: where the CLI infers the app from, and what apps:create adds."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import CLIError

REMOTE = "paas"


def app_from_git_url(url: str) -> str | None:
    """ssh://git@host:2222/myapp.git -> 'myapp' (also scp-style git@host:myapp.git)."""
    text = url.strip().rstrip("/")
    if "://" in text:
        text = urlsplit(text).path
    elif ":" in text:
        text = text.split(":", 1)[1]
    segment = text.rstrip("/").rsplit("/", 1)[-1]
    segment = segment.removesuffix(".git")
    return segment or None


def _git() -> Any:
    # GitPython fails at import time when no git binary is installed; the CLI
    # still works then, it just cannot infer the app.
    try:
        import git
    except ImportError:
        return None
    return git


def open_repo(path: str | Path | None = None) -> Any:
    """The git repository containing path (default: the current directory), or None."""
    git = _git()
    if git is None:
        return None
    try:
        return git.Repo(path or Path.cwd(), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def remote_url(repo: Any, name: str = REMOTE) -> str | None:
    if repo is None or name not in [remote.name for remote in repo.remotes]:
        return None
    try:
        return repo.remote(name).url
    except (ValueError, configparser.Error):
        return None


def paas_remote_app(path: str | Path | None = None) -> str | None:
    """The app named by the 'paas' remote of the repository containing path."""
    repo = open_repo(path)
    if repo is None:
        return None
    try:
        url = remote_url(repo)
        return app_from_git_url(url) if url else None
    finally:
        repo.close()


def add_remote(repo: Any, url: str, name: str = REMOTE) -> None:
    git = _git()
    try:
        repo.create_remote(name, url)
    except git.GitCommandError as exc:
        raise CLIError(f"Could not add git remote {name}: {(exc.stderr or '').strip() or exc}") from None


def remove_remote(repo: Any, name: str = REMOTE) -> None:
    git = _git()
    try:
        repo.delete_remote(repo.remote(name))
    except (git.GitCommandError, ValueError) as exc:
        raise CLIError(f"Could not remove git remote {name}: {exc}") from None
