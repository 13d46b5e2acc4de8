"""Entry point of the `paas` command: `paas topic:command [args] [-a APP] [--json]`."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence

from . import (
    apps,
    auth,
    builds,
    certs,
    config,
    deployments,
    domains,
    drains,
    gitremote,
    healthchecks,
    keys,
    limits,
    logs,
    maintenance,
    perms,
    ps,
    releases,
    run,
    users,
)
from .base import Context, Registry
from .client import cli_version
from .errors import APIError, CLIError, flatten_field_errors
from .settings import settings_path

# In the order 'paas help' lists them.
TOPICS = (
    auth,
    keys,
    apps,
    gitremote,
    config,
    releases,
    builds,
    ps,
    logs,
    drains,
    run,
    deployments,
    limits,
    healthchecks,
    domains,
    certs,
    maintenance,
    perms,
    users,
)


def build_parser() -> tuple[argparse.ArgumentParser, Registry]:
    parser = argparse.ArgumentParser(prog="paas", add_help=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    registry = Registry(subparsers)
    for topic in TOPICS:
        topic.register(registry)
    return parser, registry


def help_text(registry: Registry) -> str:
    lines = [
        "Usage: paas COMMAND [ARGS] [-a APP] [--json]",
        "",
        "Commands:",
    ]
    labels = {c.name: c.name + (f" ({', '.join(c.aliases)})" if c.aliases else "") for c in registry.commands}
    width = max(len(label) for label in labels.values())
    group = None
    for command in registry.commands:
        if group is not None and command.group != group:
            lines.append("")
        group = command.group
        lines.append(f"  {labels[command.name].ljust(width)}  {command.summary}")
    lines += [
        "",
        "Run 'paas help COMMAND' or 'paas COMMAND --help' for a command's options.",
        "-a APP defaults to the app of the 'paas' git remote; --json prints the raw API response.",
        f"Settings: {settings_path()} (PAAS_HOME moves the directory; PAAS_URL and PAAS_TOKEN override it).",
    ]
    return "\n".join(lines)


def report_error(exc: CLIError) -> None:
    if isinstance(exc, APIError):
        print(f"Error: {exc.message}", file=sys.stderr)
        for line in flatten_field_errors(exc.errors):
            print(f"  {line}", file=sys.stderr)
        if exc.status == 401:
            print("Run 'paas auth:login URL' to log in again.", file=sys.stderr)
    else:
        print(f"Error: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, registry = build_parser()
    if not args_list or args_list[0] in ("-h", "--help"):
        print(help_text(registry))
        return 0
    if args_list[0] in ("--version", "version"):
        print(f"paas {cli_version()}")
        return 0
    if args_list[0] == "help":
        if len(args_list) == 1:
            print(help_text(registry))
            return 0
        args_list = [args_list[1], "--help"]
    command = args_list[0]
    if command not in registry.names():
        close = difflib.get_close_matches(command, sorted(registry.names()), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        print(f"Error: unknown command '{command}'.{hint} Run 'paas help' for a list.", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        # argparse exits for --help (0) and usage errors (2); return the code so main() stays callable.
        return exc.code if isinstance(exc.code, int) else 2
    try:
        result = args.handler(Context(), args)
        sys.stdout.flush()
    except CLIError as exc:
        sys.stdout.flush()
        report_error(exc)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
