"""healthchecks:* — the HTTP path that tells when a web instance is healthy (else a TCP check)."""

from __future__ import annotations

import argparse

from .base import Context, Registry
from .client import api_path
from .errors import CLIError
from .output import print_json, print_table
from .ps import WEB, roll
from .releases_common import add_no_wait


def register(reg: Registry) -> None:
    reg.add("healthchecks", cmd_list, "Show the health check of each process type", app=True, json=True)
    parser = reg.add(
        "healthchecks:set", cmd_set,
        "Check TYPE with HTTP GET PATH (rolls fresh instances; before the first push, web's check applies to "
        "the first deploy; it wins over app.json's)", app=True, json=True
    )
    parser.add_argument("type", metavar="TYPE", help="a process type, e.g. web")
    parser.add_argument("path", metavar="PATH", help="e.g. /health")
    add_no_wait(parser)
    parser = reg.add(
        "healthchecks:unset", cmd_unset, "Go back to app.json's check or the default (rolls fresh instances)",
        app=True, json=True
    )
    parser.add_argument("type", metavar="TYPE")
    add_no_wait(parser)


def describe(process_type: str, path: str | None, declared: str | None = None) -> str:
    """The check in force: the app's own path, else app.json's (declared), else the default."""
    if path:
        overridden = f" (overrides app.json's {declared})" if declared and declared != path else ""
        return f"HTTP GET {path}{overridden}"
    if declared:
        return f"HTTP GET {declared} (app.json)"
    # What the scheduler does without a path: web must accept connections, others must keep running.
    return "TCP connect" if process_type == WEB else "process running"


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    formation = ctx.client().get(api_path("apps", ctx.app(args), "formation"))
    if args.json:
        print_json(formation)
        return
    declared = ((formation.get("app_json") or {}).get("healthchecks")) or {}
    rows = [
        (p.get("type"), describe(p.get("type") or "", p.get("healthcheck"), declared.get(p.get("type"))))
        for p in formation.get("processes") or []
    ]
    print_table(("TYPE", "CHECK"), rows, "No process types yet: deploy a build first")


def cmd_set(ctx: Context, args: argparse.Namespace) -> None:
    if not args.path.startswith("/"):
        raise CLIError(f"Invalid health check path {args.path[:60]!r}: it must start with /, e.g. /health")
    app = ctx.app(args)
    body = {"healthchecks": {args.type: args.path}}
    message = f"Setting the health check of {args.type} to {args.path} and restarting {app}"
    roll(ctx, args, app, "PATCH", api_path("apps", app, "formation"), body, message)


def cmd_unset(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    body = {"healthchecks": {args.type: None}}
    message = f"Removing the health check of {args.type} and restarting {app}"
    roll(ctx, args, app, "PATCH", api_path("apps", app, "formation"), body, message)
