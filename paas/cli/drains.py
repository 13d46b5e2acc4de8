"""drains:* — where an app's log lines are forwarded as they are collected."""

from __future__ import annotations

import argparse

from .base import Context, Registry, page_params
from .client import api_path
from .output import Progress, fmt_time, print_json, print_page_footer, print_table


def register(reg: Registry) -> None:
    reg.add("drains", cmd_list, "List an app's log drains", aliases=("drains:list",), app=True, json=True,
            paged=True, group="logs")
    parser = reg.add("drains:add", cmd_add, "Forward the app's logs to syslog://host:port or https://...",
                     app=True, json=True, group="logs")
    parser.add_argument("url", metavar="URL")
    parser = reg.add("drains:remove", cmd_remove, "Stop forwarding the app's logs to a drain", app=True,
                     group="logs")
    parser.add_argument("drain_id", metavar="ID")


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("apps", ctx.app(args), "drains"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [(d.get("id"), d.get("url"), fmt_time(d.get("created_at"))) for d in page["results"]]
    print_table(("ID", "URL", "CREATED"), rows, "No log drains")
    print_page_footer(page)


def cmd_add(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    # The URL may carry a token: the progress line names the app only.
    with Progress(f"Adding a log drain to {app}", quiet=args.json):
        drain = ctx.client().post(api_path("apps", app, "drains"), {"url": args.url})
    if args.json:
        print_json(drain)
    else:
        print(f"{drain['id']}  {drain['url']}")


def cmd_remove(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    with Progress(f"Removing drain {args.drain_id} from {app}"):
        ctx.client().delete(api_path("apps", app, "drains", args.drain_id))
