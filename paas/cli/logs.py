"""logs — the app's log history (its instances, the router, its releases) in time order,
optionally followed as it is written."""

from __future__ import annotations

import argparse

from .base import Context, Registry
from .client import api_path, iter_lines

MAX_TAIL = 10000


def register(reg: Registry) -> None:
    parser = reg.add("logs", cmd_logs, "Show the app's logs (-f to follow them)", app=True, group="ps")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    parser.add_argument(
        "-n",
        "--num",
        type=tail_count,
        default=100,
        metavar="N",
        help=f"the newest N lines in total, across instances (default 100, max {MAX_TAIL})",
    )
    parser.add_argument("--type", metavar="TYPE", action="append", default=[],
                        help="only this process type, e.g. web, worker, router, release, run (repeatable)")
    parser.add_argument("--source", metavar="SOURCE", action="append", default=[],
                        help="only this source, e.g. web.1a2b3c or router (repeatable)")
    parser.add_argument("--since", metavar="WHEN", help="only lines since 10m, 2h, 1d or an ISO 8601 time")
    parser.add_argument("--json", action="store_true", help="one JSON object per line, for scripts")


def tail_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of lines, got {text!r}") from None
    if not 0 <= value <= MAX_TAIL:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_TAIL} lines, got {text!r}")
    return value


def cmd_logs(ctx: Context, args: argparse.Namespace) -> int:
    app = ctx.app(args)
    client = ctx.client()
    params = {"tail": args.num, "follow": "true" if args.follow else "false", "type": args.type,
              "source": args.source, "since": args.since, "format": "json" if args.json else "text"}
    try:
        with client.stream("GET", api_path("apps", app, "logs"), params=params, accept="text/plain") as response:
            for line in iter_lines(response):
                # Empty lines are the controller's keep-alives while following (how it notices
                # that we left); every real line starts with its time or is a JSON object.
                if line:
                    print(line, flush=True)
    except KeyboardInterrupt:
        # Ctrl-C is how a followed log ends.
        return 0
    return 0
