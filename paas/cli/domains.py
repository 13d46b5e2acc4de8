"""domains:* — custom hostnames routed to an app."""

from __future__ import annotations

import argparse

from .base import Context, Registry, page_params
from .client import api_path
from .output import Progress, fmt_time, print_json, print_page_footer, print_table


def register(reg: Registry) -> None:
    reg.add("domains", cmd_list, "List an app's domains", aliases=("domains:list",), app=True, json=True, paged=True)
    parser = reg.add("domains:add", cmd_add, "Route a domain to an app", app=True, json=True)
    parser.add_argument("domain", metavar="DOMAIN")
    parser = reg.add("domains:remove", cmd_remove, "Stop routing a domain to an app", app=True)
    parser.add_argument("domain", metavar="DOMAIN")


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("apps", ctx.app(args), "domains"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [(d.get("domain"), fmt_time(d.get("created_at"))) for d in page["results"]]
    print_table(("DOMAIN", "CREATED"), rows, "No custom domains")
    print_page_footer(page)


def cmd_add(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    client = ctx.client()
    with Progress(f"Adding {args.domain} to {app}", quiet=args.json):
        domain = client.post(api_path("apps", app, "domains"), {"domain": args.domain})
    if args.json:
        print_json(domain)


def cmd_remove(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    client = ctx.client()
    with Progress(f"Removing {args.domain} from {app}"):
        client.delete(api_path("apps", app, "domains", args.domain))
