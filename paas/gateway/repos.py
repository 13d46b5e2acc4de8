"""Bare repositories the gateway receives pushes into: strict path rules, created on first use.

Each repo remembers which app it belongs to (the app's random id, in `paas-app-id`): when the
controller names another id, the app was destroyed and its name taken again, so the old repo
is thrown away and the new app starts with an empty one (no history of the destroyed app).
Every repo the gateway creates or opens gets `receive.maxInputSize` (PAAS_MAX_PUSH_BYTES), so
git itself refuses an oversized push before any of it is stored."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from paas.domain.apps import APP_NAME_RE

log = logging.getLogger(__name__)

# The only repository paths accepted: "<app>.git", optionally with a leading "/" or "~/" and a
# trailing "/". Matched whole (\A...\Z): "app.git\n" is refused, not taken for "app.git".
REPO_PATH_RE = re.compile(r"\A(?:~?/)?(?P<app>[a-z][a-z0-9-]{1,38}[a-z0-9])\.git/?\Z")
GIT_COMMANDS = {"git-receive-pack", "git-upload-pack"}
APP_ID_FILE = "paas-app-id"
_APP_ID_RE = re.compile(r"\A[0-9a-f]{16,64}\Z")


class RefusedCommand(Exception):
    """What the user asked SSH to run is not a push or fetch of an app repository."""


def parse_command(original: str) -> tuple[str, str]:
    """'git-receive-pack '\\''app.git'\\''' -> ('git-receive-pack', 'app')."""
    try:
        words = shlex.split(original)
    except ValueError:
        raise RefusedCommand("Malformed command") from None
    if len(words) == 3 and words[0] == "git" and words[1] in ("receive-pack", "upload-pack"):
        words = [f"git-{words[1]}", words[2]]
    if len(words) != 2 or words[0] not in GIT_COMMANDS:
        raise RefusedCommand("Only git push and git fetch are allowed here")
    match = REPO_PATH_RE.match(words[1])
    if not match or not APP_NAME_RE.match(match.group("app")):
        raise RefusedCommand(f"Invalid repository path {words[1][:80]!r}: use <app>.git")
    return words[0], match.group("app")


HOOK = """#!/bin/sh
# Installed by paas: every push to main/master builds and releases the app.
exec {python} -m paas.gateway.hook "$@"
"""


def repo_config(max_push_bytes: int) -> dict[str, str]:
    """The git settings every app repo carries."""
    return {"receive.maxInputSize": str(int(max_push_bytes))}


def ensure_repo(git_dir: Path, app: str, app_id: str, max_push_bytes: int) -> Path:
    """The app's bare repo (HEAD main) with its pre-receive hook and settings: created if
    missing, created afresh if it belongs to another app of that name (another id)."""
    if not APP_NAME_RE.match(app) or not _APP_ID_RE.match(app_id):
        raise ValueError("invalid app name or id")
    git_dir.mkdir(parents=True, exist_ok=True)
    path = git_dir / f"{app}.git"
    with _locked(git_dir, app):
        id_file = path / APP_ID_FILE
        if path.exists() and (not id_file.is_file() or id_file.read_text().strip() != app_id):
            # A destroyed app's repo (or one from before ids): never shown to the new owner.
            _discard(path)
        if not (path / "HEAD").is_file():
            subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(path)], check=True)
            id_file.write_text(app_id + "\n")
        for name, value in repo_config(max_push_bytes).items():
            subprocess.run(["git", "config", "--file", str(path / "config"), name, value], check=True)
        hook = path / "hooks" / "pre-receive"
        content = HOOK.format(python=shlex.quote(sys.executable))
        if not hook.is_file() or hook.read_text() != content:
            hook.write_text(content)
            hook.chmod(0o755)
    return path


def remove_repo(git_dir: Path, app: str, app_id: str) -> bool:
    """Delete the app's repo if this host holds git_dir (a controller beside the gateway) and
    the repo is this app's (its id): a repo of another platform sharing the directory stays."""
    if not APP_NAME_RE.match(app) or not git_dir.is_dir():
        return False
    path = git_dir / f"{app}.git"
    with _locked(git_dir, app):
        id_file = path / APP_ID_FILE
        if not id_file.is_file() or id_file.read_text().strip() != app_id:
            return False
        _discard(path)
        return True


class LocalGitRepos:
    """The controller's view of the gateway's repos when they are on its own disk: destroy
    deletes the repo (elsewhere, the gateway starts it afresh by the app id)."""

    def __init__(self, git_dir: Path):
        self.git_dir = git_dir

    def remove_app(self, app: str, app_id: str) -> None:
        try:
            remove_repo(self.git_dir, app, app_id)
        except PermissionError as exc:
            # Not ours to delete (another user's gateway dir): the id check covers it.
            log.warning("cannot delete the git repo of %s here (%s); the gateway replaces it", app, exc)


@contextmanager
def _locked(git_dir: Path, app: str) -> Iterator[None]:
    fd = os.open(git_dir / f".{app}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _discard(path: Path) -> None:
    """Rename first (atomic: nobody opens half a repo), then delete."""
    trash = path.with_name(f".{path.name}.{secrets.token_hex(4)}.discarded")
    os.rename(path, trash)
    shutil.rmtree(trash)
