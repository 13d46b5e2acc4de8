"""pre-receive: a push to main (or master) is built and released before the ref moves.
A failed build rejects the push: the ref stays where it was and no release is made."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from paas.config import Settings

from .client import ControllerError, GatewayClient

ZERO = "0" * 40
DEPLOY_REFS = ("refs/heads/main", "refs/heads/master")


def say(line: str = "") -> None:
    # git shows the hook's output to the pusher prefixed with "remote: ".
    print(line, flush=True)


def main() -> int:
    started = time.time()  # git has received the objects: the timeline's receive phase starts here
    settings = Settings.from_env()
    username, app = os.environ.get("PAAS_PUSH_USER", ""), os.environ.get("PAAS_PUSH_APP", "")
    updates = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    for _old, new, ref in updates:
        if ref not in DEPLOY_REFS:
            say(f" !     Only pushes to main (or master) deploy; refusing {ref}.")
            return 1
        if new == ZERO:
            say(f" !     Deleting {ref.removeprefix('refs/heads/')} is not allowed.")
            return 1
    if len(updates) != 1:
        say(" !     Push one branch at a time: main or master.")
        return 1
    _, new, _ = updates[0]
    client = GatewayClient(settings.controller_url, settings.gateway_token or "")
    with tempfile.TemporaryFile() as tarball:
        subprocess.run(["git", "archive", "--format=tar", new], stdout=tarball, check=True)
        tarball.seek(0)
        say(f"-----> Building {app} ({new[:7]})")
        try:
            for event in client.build_source(app, username, tarball, new, started):
                if "log" in event:
                    say(event["log"])
                elif "error" in event:
                    say(f" !     Push rejected: {event['error']}")
                    return 1
                elif "release" in event:
                    say(f"-----> Released v{event['release']['version']} of {app}")
        except ControllerError as exc:
            say(f" !     Push rejected: {exc}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
