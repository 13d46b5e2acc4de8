"""run — a one-off command in a fresh container of the live release: attached (stdin forwarded,
and a terminal when this is one: `paas run bash`), streamed (--no-stdin: output lines only, the
old way, which every scheduler can do) or in the background (run:detached)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from . import attach
from .base import Context, Registry
from .client import api_path, iter_lines
from .errors import APIError, CLIError


def register(reg: Registry) -> None:
    parser = reg.add("run", cmd_run, "Run a one-off command, e.g. run python manage.py migrate, or run bash",
                     app=True, group="ps")
    parser.add_argument("--no-tty", action="store_true",
                        help="no terminal even when this is one (stdin is still forwarded)")
    parser.add_argument("--no-stdin", action="store_true",
                        help="forward no input: only stream the output lines (works on every scheduler)")
    _command_argument(parser)
    detached = reg.add("run:detached", cmd_run_detached,
                       "Run a one-off command in the background; its output goes to the app's logs",
                       app=True, json=True, group="ps")
    _command_argument(detached)


def _command_argument(parser: argparse.ArgumentParser) -> None:
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
    if args.no_stdin:
        return streamed(client, app, command)
    stdin_fd = _stdin_fd()
    tty = not args.no_tty and stdin_fd is not None and os.isatty(stdin_fd) and sys.stdout.isatty()
    body: dict[str, Any] = {"command": command, "tty": tty}
    if tty:
        body["rows"], body["cols"] = attach.terminal_size()
    try:
        sock, rest = attach.open_stream(client, api_path("apps", app, "run", "attach"), body)
    except APIError as exc:
        if exc.status == 501 and not tty:
            # This platform's scheduler cannot attach (Nomad): its output is still worth having.
            print("paas: this platform cannot forward input to a run; running without it", file=sys.stderr)
            return streamed(client, app, command)
        raise
    with sock:
        status = attach.relay(sock, rest, stdin_fd, tty)
    sys.stdout.flush()
    return exit_status(status)


def streamed(client: Any, app: str, command: str) -> int:
    path = api_path("apps", app, "run")
    with client.stream("POST", path, body={"command": command}, accept="application/x-ndjson") as response:
        status = relay(iter_lines(response))
    sys.stdout.flush()
    return status


def _stdin_fd() -> int | None:
    """Our stdin's descriptor; None when there is none (closed): the run then reads end-of-file."""
    try:
        fd = sys.stdin.fileno() if sys.stdin is not None else -1
        os.fstat(fd)
    except (OSError, ValueError):
        return None
    return fd


def cmd_run_detached(ctx: Context, args: argparse.Namespace) -> int:
    command = command_line(args.command)
    app = ctx.app(args)
    started = ctx.client().post(api_path("apps", app, "run", "detached"), body={"command": command})
    if args.json:
        print(json.dumps(started, indent=2))
        return 0
    name = started.get("name", "") if isinstance(started, dict) else ""
    print(f"Running {command!r} on {app} in the background as {name}")
    print(f"Its output goes to the app's logs: paas logs -a {app} --source {name}")
    return 0
