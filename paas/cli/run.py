"""run — a one-off command in a fresh container of the live release, its output streamed back."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from .base import Context, Registry
from .client import api_path, iter_lines
from .errors import CLIError


def register(reg: Registry) -> None:
    parser = reg.add("run", cmd_run, "Run a one-off command, e.g. run python manage.py migrate", app=True, group="ps")
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help="the command and its arguments (put -- before it if it starts with -)",
    )


def command_line(words: Sequence[str]) -> str:
    """The shell command the controller runs.

    Several words are quoted so each stays one argument; a single word is taken as a command
    line the user quoted on purpose (paas run "rake db:migrate && rake seed")."""
    words = list(words)
    if words and words[0] == "--":
        words = words[1:]
    if not words or not "".join(words).strip():
        raise CLIError("Give a command to run, e.g. paas run python manage.py migrate")
    if len(words) == 1:
        return words[0]
    return shlex.join(words)


def exit_status(code: Any) -> int:
    """The command's exit code as this process's status (1 when it cannot be one)."""
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 255:
        return code
    return 1


def relay(lines: Iterable[str]) -> int:
    """Print the {"log": line} messages as they come; the {"exit_code": N} one ends the stream."""
    for raw in lines:
        if not raw.strip():
            continue
        try:
            message = json.loads(raw)
        except ValueError:
            raise CLIError("The controller sent something that is not JSON while running the command") from None
        if not isinstance(message, dict):
            continue
        if "log" in message:
            print(message["log"], flush=True)
        elif "error" in message:
            raise CLIError(str(message["error"]))
        elif "exit_code" in message:
            return exit_status(message["exit_code"])
    raise CLIError("The connection to the controller ended before the command finished")


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    command = command_line(args.command)
    app = ctx.app(args)
    client = ctx.client()
    path = api_path("apps", app, "run")
    with client.stream("POST", path, body={"command": command}, accept="application/x-ndjson") as response:
        status = relay(iter_lines(response))
    sys.stdout.flush()
    return status
