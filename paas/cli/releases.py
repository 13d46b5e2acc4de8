"""releases:* — the numbered (build, config) history of an app, and rollback."""

from __future__ import annotations

import argparse
import re
from typing import Any

from .base import Context, Registry, page_params
from .client import api_path
from .errors import APIError, CLIError
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
    parser = reg.add("releases:diff", cmd_diff, "Show what changed between releases", app=True, json=True)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = DIFF_HELP
    parser.add_argument("version", metavar="VERSION", help="e.g. v3 (or 3)")
    parser.add_argument("to", metavar="TO", nargs="?", help="e.g. v7: diff from VERSION to TO")
    parser.add_argument("--show-values", "--reveal", dest="show_values", action="store_true",
                        help="show config values (masked by default; only for users who may read config)")
    parser = reg.add(
        "releases:rollback", cmd_rollback, "Roll back to an earlier release (as a new release)", app=True, json=True
    )
    parser.add_argument("version", metavar="VERSION", nargs="?", help="e.g. v2 (default: the previous release)")
    add_no_wait(parser)


DIFF_HELP = """\
  paas releases:diff v5        what v5 changed: v4 -> v5 (v1: against nothing)
  paas releases:diff v3 v7     from v3 to v7 (v7 v3 shows it the other way round)

One version shows what that release changed, as 'git show' does for a commit and as
'releases:info' lists it. Nothing defaults to the current release: to see everything since
v3, name the newest version ('paas releases' lists them).

Shown: config keys added, removed and changed (values masked unless --show-values), the build
(image, git sha and the commit range old..new), Procfile process types, and the health checks
and update settings of each build's app.json. Formation and limits are not part of a release
(ps:scale and limits:set make none), so a diff never shows them.
"""


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
    try:
        diff = ctx.client().get(api_path("apps", app, "releases", version, "diff"),
                                {"show_values": "true"} if args.reveal else None)
    except APIError as exc:
        if exc.status != 404:
            raise
        return  # a controller without diffs: the release itself was shown
    since = fmt_version(diff.get("from_version")) if diff.get("from_version") else "nothing (first release)"
    print(f"--- Changes since {since}")
    print_diff(diff)


def cmd_diff(ctx: Context, args: argparse.Namespace) -> None:
    version = parse_version(args.version)
    app = ctx.app(args)
    params: dict[str, str] = {}
    if args.to:
        params["to"] = str(parse_version(args.to))
    if args.show_values:
        params["show_values"] = "true"
    diff = ctx.client().get(api_path("apps", app, "releases", version, "diff"), params or None)
    if args.json:
        print_json(diff)
        return
    before = fmt_version(diff.get("from_version")) if diff.get("from_version") else "(nothing)"
    print(f"=== {app} {before} -> {fmt_version(diff.get('to_version'))}")
    print_diff(diff)
    not_recorded = diff.get("not_recorded") or []
    if not_recorded:
        print(f"({' and '.join(not_recorded).capitalize()} are not recorded by these releases, so not compared.)")


MARKS = {"added": "+", "removed": "-", "changed": "~"}


def _change_line(change: dict[str, Any], separator: str) -> str:
    mark, name = MARKS.get(change.get("kind"), "?"), change.get("name")
    before, after = change.get("before"), change.get("after")
    if change.get("kind") == "added":
        return f"{mark} {name}{separator}{after}"
    if change.get("kind") == "removed":
        return f"{mark} {name}{separator}{before}"
    return f"{mark} {name}{separator}{before} -> {after}"


def print_diff(diff: dict[str, Any]) -> None:
    """The sections of a diff that changed, or 'No changes'."""
    config, build = diff.get("config") or [], diff.get("build")
    procfile, checks = diff.get("procfile") or [], diff.get("healthchecks") or []
    formation = diff.get("formation") or []
    if not (config or build or procfile or checks or formation):
        print("No changes")
    if config:
        print("Config vars" + ("" if diff.get("values_shown") else " (values masked: --show-values shows them)"))
        for change in config:
            if change.get("kind") == "changed" and not diff.get("values_shown"):
                print(f"~ {change.get('name')} (value changed)")
            else:
                print(_change_line(change, "="))
    if build:
        commits = build.get("commit_range") or _short(build.get("after_git_sha")) or "no git sha"
        print(f"Build {build.get('before_build') or '-'} -> {build.get('after_build') or '-'} ({commits})")
        print(f"  image {build.get('before_image') or '-'} -> {build.get('after_image') or '-'}")
    if procfile:
        print("Processes")
        for change in procfile:
            print(_change_line(change, ": "))
    if checks:
        print("Health checks (app.json)")
        for change in checks:
            print(_change_line(change, ": "))
    if formation:
        print("Formation (scale, limits, checks)")
        for change in formation:
            print(_change_line(change, "="))


def _short(sha: Any) -> str | None:
    return str(sha)[:7] if sha else None


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
