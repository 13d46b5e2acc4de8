"""ps:* — the formation: how many instances of each process type run."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from .base import Context, Registry
from .client import api_path
from .errors import CLIError
from .output import Progress, print_json, print_table

SCALE_RE = re.compile(r"^([A-Za-z0-9_-]+)=([0-9]+)$")


def register(reg: Registry) -> None:
    reg.add("ps", cmd_list, "Show the process types and their scale", aliases=("ps:list",), app=True, json=True)
    parser = reg.add("ps:scale", cmd_scale, "Scale process types, e.g. ps:scale web=3 worker=1", app=True, json=True)
    parser.add_argument("quantities", nargs="+", metavar="TYPE=N")


def parse_scale(items: Sequence[str]) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in items:
        match = SCALE_RE.match(item.strip())
        if not match:
            raise CLIError(f"Invalid scale {item[:40]!r}: expected TYPE=N, e.g. web=3")
        name, quantity = match.group(1), int(match.group(2))
        if name in result:
            raise CLIError(f"Process type {name} is given more than once")
        result[name] = quantity
    return result


def _summary(formation: dict[str, Any]) -> str:
    processes = formation.get("processes") or []
    return ", ".join(f"{p.get('type')}={p.get('quantity')}" for p in processes) or "no processes"


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    formation = ctx.client().get(api_path("apps", ctx.app(args), "formation"))
    if args.json:
        print_json(formation)
        return
    rows = [
        (p.get("type"), p.get("quantity"), p.get("memory") or "-", "-" if p.get("cpu") is None else p.get("cpu"))
        for p in formation.get("processes") or []
    ]
    print_table(("TYPE", "QUANTITY", "MEMORY", "CPU"), rows, "No process types yet: deploy a build first")


def cmd_scale(ctx: Context, args: argparse.Namespace) -> None:
    quantities = parse_scale(args.quantities)
    app = ctx.app(args)
    client = ctx.client()
    with Progress(f"Scaling processes of {app}", quiet=args.json) as progress:
        formation = client.patch(api_path("apps", app, "formation"), {"quantities": quantities})
        progress.done(f"now {_summary(formation)}")
    if args.json:
        print_json(formation)
