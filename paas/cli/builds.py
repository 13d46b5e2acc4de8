"""builds:* — the images releases run; builds:create deploys a prebuilt image."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .base import Context, Registry, page_params
from .client import api_path
from .deployments import print_timeline
from .errors import CLIError
from .output import Progress, fmt_time, print_info, print_json, print_page_footer, print_table
from .releases_common import add_no_wait, settle, wait_params


def register(reg: Registry) -> None:
    reg.add("builds", cmd_list, "List builds, newest first", aliases=("builds:list",), app=True, json=True, paged=True)
    parser = reg.add("builds:info", cmd_info, "Show a build and its log", app=True, json=True)
    parser.add_argument("id", metavar="ID")
    parser = reg.add(
        "builds:create", cmd_create, "Deploy a prebuilt Docker image (new build and release)", app=True, json=True
    )
    parser.add_argument("image", metavar="IMAGE", help="e.g. 127.0.0.1:5000/myapp:v1")
    parser.add_argument(
        "--procfile",
        action="append",
        default=[],
        metavar="'TYPE: COMMAND'",
        help="a process type and its command, e.g. 'web: python app.py' (repeatable)",
    )
    add_no_wait(parser)


def parse_procfile_entries(entries: Sequence[str]) -> dict[str, str]:
    """["web: python app.py"] -> {"web": "python app.py"}."""
    result: dict[str, str] = {}
    for entry in entries:
        name, sep, command = entry.partition(":")
        name, command = name.strip(), command.strip()
        if not sep or not name or not command or " " in name:
            raise CLIError(f"Invalid --procfile {entry[:60]!r}: expected 'TYPE: COMMAND', e.g. 'web: python app.py'")
        if name in result:
            raise CLIError(f"Process type {name} is given more than once")
        result[name] = command
    return result


def _short_sha(sha: str | None) -> str:
    return sha[:7] if sha else "-"


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("apps", ctx.app(args), "builds"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [
        (
            b.get("id"),
            b.get("status"),
            b.get("image"),
            _short_sha(b.get("git_sha")),
            b.get("created_by"),
            fmt_time(b.get("created_at")),
        )
        for b in page["results"]
    ]
    print_table(("ID", "STATUS", "IMAGE", "SHA", "BY", "CREATED"), rows, "No builds yet")
    print_page_footer(page)


def cmd_info(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    build = ctx.client().get(api_path("apps", app, "builds", args.id))
    if args.json:
        print_json(build)
        return
    print_info(
        f"{app} build {build.get('id')}",
        [
            ("Status", build.get("status")),
            ("Image", build.get("image")),
            ("Git SHA", build.get("git_sha") or "-"),
            ("By", build.get("created_by")),
            ("Created", fmt_time(build.get("created_at"))),
            ("Finished", fmt_time(build.get("finished_at")) or "-"),
        ],
    )
    procfile = build.get("procfile") or {}
    if procfile:
        print("--- Processes")
        for name in sorted(procfile):
            print(f"{name}: {procfile[name]}")
    print_timeline(build.get("timeline") or [])
    log = build.get("log")
    if log:
        print("--- Log")
        print(log.rstrip("\n"))


def cmd_create(ctx: Context, args: argparse.Namespace) -> None:
    procfile = parse_procfile_entries(args.procfile)
    app = ctx.app(args)
    body: dict[str, object] = {"image": args.image}
    if procfile:
        body["procfile"] = procfile
    client = ctx.client()
    with Progress(f"Deploying {args.image} to {app}", quiet=args.json) as progress:
        result = client.post(api_path("apps", app, "builds"), body, wait_params(args))
        if args.json:
            print_json(result)
        progress.done(settle(result.get("release"), result.get("deployment")))
