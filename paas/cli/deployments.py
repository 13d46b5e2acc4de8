"""deployments:* — the rollouts of releases (and restarts), newest first."""

from __future__ import annotations

import argparse
from typing import Any

from paas.domain import timeline
from paas.domain.timeline import Mark

from .base import Context, Registry, page_params
from .client import api_path
from .output import align, fmt_time, fmt_version, print_info, print_json, print_page_footer, print_table


def register(reg: Registry) -> None:
    reg.add(
        "deployments",
        cmd_list,
        "List deployments, newest first",
        aliases=("deployments:list",),
        app=True,
        json=True,
        paged=True,
    )
    parser = reg.add("deployments:info", cmd_info, "Show a deployment and its process groups", app=True, json=True)
    parser.add_argument("id", metavar="ID")


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("apps", ctx.app(args), "deployments"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [
        (
            d.get("id"),
            fmt_version(d.get("release")),
            d.get("status"),
            fmt_time(d.get("created_at")),
            d.get("description"),
        )
        for d in page["results"]
    ]
    print_table(("ID", "RELEASE", "STATUS", "CREATED", "DESCRIPTION"), rows, "No deployments yet")
    print_page_footer(page)


def cmd_info(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    deployment = ctx.client().get(api_path("apps", app, "deployments", args.id))
    if args.json:
        print_json(deployment)
        return
    print_info(
        f"{app} deployment {deployment.get('id')}",
        [
            ("Release", fmt_version(deployment.get("release"))),
            ("Status", deployment.get("status")),
            ("Phase", deployment.get("phase")),
            ("Description", deployment.get("description")),
            ("Promoted", _yes_no(deployment.get("promoted"))),
            ("Created", fmt_time(deployment.get("created_at"))),
            ("Updated", fmt_time(deployment.get("updated_at"))),
            ("Finished", fmt_time(deployment.get("finished_at")) if deployment.get("finished_at") else None),
        ],
    )
    failure = deployment.get("failure") or {}
    if failure:
        print("--- Failure")
        print(failure.get("reason", ""))
        if failure.get("check"):
            print(f"last check result: {failure['check']}")
        if failure.get("exit_code") is not None:
            print(f"exit code: {failure['exit_code']}" + (" (out of memory)" if failure.get("oom_killed") else ""))
        if failure.get("last_lines"):
            print(f"last output of {failure.get('instance')}:")
            for line in failure["last_lines"]:
                print(f"  {line}")
    print_timeline(deployment.get("timeline") or [])
    groups = deployment.get("groups") or {}
    if groups:
        print("--- Process groups")
        headers = ("TYPE", "DESIRED", "CANARIES", "PLACED", "HEALTHY", "UNHEALTHY", "PROMOTED")
        rows = [
            (
                name,
                g.get("desired_total", 0),
                g.get("desired_canaries", 0),
                g.get("placed_canaries", 0),
                g.get("healthy", 0),
                g.get("unhealthy", 0),
                _yes_no(g.get("promoted")),
            )
            for name, g in sorted(groups.items(), key=lambda item: (item[0] != "web", item[0]))
        ]
        print("\n".join(align([headers, *rows])))


def print_timeline(marks: list[dict]) -> None:
    """Each phase with its duration (the API's timeline of a build or a deployment)."""
    if marks:
        print("--- Timeline")
        for line in timeline.render([Mark.from_dict(m) for m in marks]):
            print(line)
