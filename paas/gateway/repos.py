"""Bare repositories the gateway receives pushes into: strict path rules, created on first push."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

# The only repository paths accepted: "<app>.git", optionally with a leading "/" or "~/".
REPO_PATH_RE = re.compile(r"^(?:~?/)?(?P<app>[a-z][a-z0-9-]{1,38}[a-z0-9])\.git/?$")
GIT_COMMANDS = {"git-receive-pack", "git-upload-pack"}


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
    if not match:
        raise RefusedCommand(f"Invalid repository path {words[1][:80]!r}: use <app>.git")
    return words[0], match.group("app")


HOOK = """#!/bin/sh
# Installed by paas: every push to main/master builds and releases the app.
exec {python} -m paas.gateway.hook "$@"
"""


def ensure_repo(git_dir: Path, app: str) -> Path:
    """Create the bare repo (HEAD main) and its pre-receive hook if missing."""
    path = git_dir / f"{app}.git"
    if not (path / "HEAD").is_file():
        git_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(path)], check=True)
    hook = path / "hooks" / "pre-receive"
    content = HOOK.format(python=shlex.quote(sys.executable))
    if not hook.is_file() or hook.read_text() != content:
        hook.write_text(content)
        hook.chmod(0o755)
    return path
