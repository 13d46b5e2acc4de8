"""The forced command sshd runs for every platform key: `git-shell USERNAME`.

Allows only git-receive-pack / git-upload-pack on "<app>.git" the user may use; refuses shells,
scp, other paths. One push per app at a time: the repo lock is held by receive-pack itself."""

from __future__ import annotations

import fcntl
import os
import sys

from paas.config import Settings
from paas.domain.users import USERNAME_RE

from .client import ControllerError, GatewayClient
from .repos import RefusedCommand, ensure_repo, parse_command


def refuse(message: str) -> int:
    print(f"paas: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = Settings.from_env()
    if len(args) != 1 or not USERNAME_RE.match(args[0]) or not settings.gateway_token:
        return refuse("the gateway is misconfigured")
    username = args[0]
    original = os.environ.get("SSH_ORIGINAL_COMMAND", "").strip()
    if not original:
        return refuse(f"Hi {username}! You've authenticated, but paas gives no shell access. Use git push.")
    try:
        command, app = parse_command(original)
    except RefusedCommand as exc:
        return refuse(str(exc))
    try:
        app_id = GatewayClient(settings.controller_url, settings.gateway_token).app_access(app, username)
    except ControllerError as exc:
        return refuse(str(exc))
    if app_id is None:
        # One answer for "no such app" and "not yours", as the API gives: names are not disclosed.
        return refuse(f"App {app!r} not found")
    repo = ensure_repo(settings.git_dir, app, app_id, settings.max_push_bytes)
    if command == "git-receive-pack":
        hold_push_lock(repo, app)
    os.environ["PAAS_PUSH_USER"] = username
    os.environ["PAAS_PUSH_APP"] = app
    os.execvp(command, [command, str(repo)])
    return 0  # not reached


def hold_push_lock(repo, app: str) -> None:
    """Take the app's push lock on an fd that receive-pack inherits, so it is held until the
    push (build, release and ref update) has completed; a second push waits its turn."""
    fd = os.open(repo / "paas-push.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"paas: another push to {app} is in progress; waiting for it to finish...", file=sys.stderr)
        fcntl.flock(fd, fcntl.LOCK_EX)
    os.set_inheritable(fd, True)


if __name__ == "__main__":
    sys.exit(main())
