"""releases:* — the numbered (build, config) history of an app, and rollback."""

from __future__ import annotations

import argparse
import re

from .base import Context, Registry, page_params
from .client import api_path
from .errors import CLIError
from .output import Progress, fmt_time, fmt_version, print_info, print_json, print_page_footer, print_table
from .releases_common import add_no_wait, settle, wait_params

VERSION_RE = re.compile(r"^[vV]?([0-9]+)$")
SUMMARY_VERSION_RE = re.compile(r"\bv([0-9]+)\b")


def register(reg: Registry) -> None:
    reg.add(
        "releases", cmd_list, "List releases, newest first", aliases=("releases:list",), app=True, json=True, paged=True
    )
    parser = reg.add("releases:info", cmd_info, "Show a release", app=True, json=True)
    parser.add_argument("version", metavar="VERSION", help="e.g. v3 (or 3)")
    parser.add_argument("--reveal", action="store_true", help="show config values (masked by default)")
    parser = reg.add(
        "releases:rollback", cmd_rollback, "Roll back to an earlier release (as a new release)", app=True, json=True
    )
    parser.add_argument("version", metavar="VERSION", nargs="?", help="e.g. v2 (default: the previous release)")
    add_no_wait(parser)


def parse_version(text: str) -> int:
    """'v3', 'V3' or '3' -> 3."""
    match = VERSION_RE.fullmatch(text.strip())
    if not match or int(match.group(1)) < 1:
        raise CLIError(f"Invalid release version {text[:20]!r}: use vN, e.g. v3")
    return int(match.group(1))


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("apps", ctx.app(args), "releases"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [
        (
            fmt_version(r.get("version")),
            fmt_time(r.get("created_at")),
            r.get("created_by"),
            (r.get("summary") or "") + (" (failed)" if r.get("failed") else ""),
        )
        for r in page["results"]
    ]
    print_table(("VERSION", "CREATED", "BY", "SUMMARY"), rows, "No releases yet")
    print_page_footer(page)


def cmd_info(ctx: Context, args: argparse.Namespace) -> None:
    version = parse_version(args.version)
    app = ctx.app(args)
    params = {"reveal": "true"} if args.reveal else None
    release = ctx.client().get(api_path("apps", app, "releases", version), params)
    if args.json:
        print_json(release)
        return
    pairs = [
        ("Summary", release.get("summary")),
        ("By", release.get("created_by")),
        ("Created", fmt_time(release.get("created_at"))),
        ("Build", release.get("build_id") or "-"),
        ("Image", release.get("image") or "-"),
        ("Status", f"failed: {release.get('failure_reason') or 'unknown reason'}" if release.get("failed") else "ok"),
    ]
    print_info(f"{app} release {fmt_version(release.get('version'))}", pairs)
    procfile = release.get("procfile") or {}
    if procfile:
        print("--- Processes")
        for name in sorted(procfile):
            print(f"{name}: {procfile[name]}")
    config = release.get("config") or {}
    print("--- Config vars" if config else "--- No config vars")
    for key in sorted(config):
        print(f"{key}={config[key]}")


def cmd_rollback(ctx: Context, args: argparse.Namespace) -> None:
    target = parse_version(args.version) if args.version else None
    app = ctx.app(args)
    client = ctx.client()
    body = {"version": target} if target is not None else {}
    to = f" to {fmt_version(target)}" if target is not None else ""
    with Progress(f"Rolling back {app}{to}", quiet=args.json) as progress:
        release = client.post(api_path("apps", app, "releases", "rollback"), body, wait_params(args))
        if args.json:
            print_json(release)
        result = settle(release, release.get("deployment"))
        if target is None:
            # The controller picked the target; its summary names it (e.g. "alice rolled back to v2").
            match = SUMMARY_VERSION_RE.search(release.get("summary") or "")
            result += f" (back to v{match.group(1)})" if match else ""
        progress.done(result)
