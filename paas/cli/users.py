"""users:* — the platform's accounts (admins only)."""

from __future__ import annotations

import argparse

from .base import Context, Registry, page_params
from .client import api_path
from .output import fmt_time, print_json, print_page_footer, print_table


def register(reg: Registry) -> None:
    reg.add("users", cmd_list, "List users (admins only)", aliases=("users:list",), json=True, paged=True)


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("users"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [
        (u.get("username"), u.get("email") or "-", "yes" if u.get("is_admin") else "no", fmt_time(u.get("created_at")))
        for u in page["results"]
    ]
    print_table(("USERNAME", "EMAIL", "ADMIN", "CREATED"), rows, "No users")
    print_page_footer(page)
