"""perms:* — collaborators of an app."""

from __future__ import annotations

import argparse

from .base import Context, Registry, page_params
from .client import api_path
from .output import Progress, print_json, print_page_footer, print_table


def register(reg: Registry) -> None:
    reg.add("perms:list", cmd_list, "List who can access an app", aliases=("perms",), app=True, json=True, paged=True)
    parser = reg.add("perms:create", cmd_create, "Make a user a collaborator of an app", app=True, json=True)
    parser.add_argument("username", metavar="USERNAME")
    parser = reg.add("perms:delete", cmd_delete, "Remove a collaborator from an app", app=True)
    parser.add_argument("username", metavar="USERNAME")


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("apps", ctx.app(args), "perms"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [(p.get("username"), p.get("role")) for p in page["results"]]
    print_table(("USERNAME", "ROLE"), rows, "No users")
    print_page_footer(page)


def cmd_create(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    client = ctx.client()
    with Progress(f"Adding {args.username} to {app} collaborators", quiet=args.json):
        perm = client.post(api_path("apps", app, "perms"), {"username": args.username})
    if args.json:
        print_json(perm)


def cmd_delete(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    client = ctx.client()
    with Progress(f"Removing {args.username} from {app} collaborators"):
        client.delete(api_path("apps", app, "perms", args.username))
