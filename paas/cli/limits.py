"""limits:* — memory and CPU per process type."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from .base import Context, Registry
from .client import api_path
from .errors import CLIError
from .output import print_json, print_table
from .ps import roll
from .releases_common import add_no_wait

TYPE_RE = re.compile(r"^[A-Za-z0-9_-]+$")
MEMORY_RE = re.compile(r"^[0-9]{1,6}[KMG]B?$", re.IGNORECASE)


def register(reg: Registry) -> None:
    reg.add("limits", cmd_list, "Show the memory and CPU limits of each process type", app=True, json=True)
    parser = reg.add(
        "limits:set",
        cmd_set,
        "Set memory (TYPE=512M) and CPU (--cpu TYPE=0.5) limits (rolls fresh instances)",
        app=True,
        json=True,
    )
    parser.add_argument("memory", nargs="*", metavar="TYPE=MEMORY", help="e.g. web=512M worker=1G")
    parser.add_argument("--cpu", action="append", default=[], metavar="TYPE=CORES", help="e.g. web=0.5 (repeatable)")
    add_no_wait(parser)
    parser = reg.add(
        "limits:unset", cmd_unset, "Remove the limits of process types (rolls fresh instances)", app=True, json=True
    )
    parser.add_argument("types", nargs="+", metavar="TYPE")
    add_no_wait(parser)


def _split(item: str, what: str, example: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not TYPE_RE.fullmatch(name) or not value:
        raise CLIError(f"Invalid {what} limit {item[:40]!r}: expected TYPE={example}")
    return name, value


def parse_limits(memory: Sequence[str], cpu: Sequence[str]) -> dict[str, dict[str, Any]]:
    """["web=512M"], ["web=0.5"] -> {"web": {"memory": "512M", "cpu": 0.5}}."""
    limits: dict[str, dict[str, Any]] = {}
    for item in memory:
        name, value = _split(item, "memory", "512M")
        if not MEMORY_RE.fullmatch(value):
            raise CLIError(f"Invalid memory limit {value[:20]!r} for {name}: use e.g. 512M or 1G")
        if "memory" in limits.setdefault(name, {}):
            raise CLIError(f"The memory of {name} is given more than once")
        limits[name]["memory"] = value.upper().removesuffix("B")
    for item in cpu:
        name, value = _split(item, "CPU", "0.5")
        try:
            cores = float(value)
        except ValueError:
            cores = -1.0
        if not 0 < cores <= 64:
            raise CLIError(f"Invalid CPU limit {value[:20]!r} for {name}: use a number of cores, e.g. 0.5")
        if "cpu" in limits.setdefault(name, {}):
            raise CLIError(f"The CPU of {name} is given more than once")
        limits[name]["cpu"] = cores
    if not limits:
        raise CLIError("Give at least one limit, e.g. paas limits:set web=512M --cpu web=0.5")
    return limits


def _fmt_cpu(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    formation = ctx.client().get(api_path("apps", ctx.app(args), "formation"))
    if args.json:
        print_json(formation)
        return
    rows = [(p.get("type"), p.get("memory") or "-", _fmt_cpu(p.get("cpu"))) for p in formation.get("processes") or []]
    print_table(("TYPE", "MEMORY", "CPU"), rows, "No process types yet: deploy a build first")


def _describe(limits: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, values in limits.items():
        shown = [values["memory"]] if "memory" in values else []
        shown += [f"{_fmt_cpu(values['cpu'])} CPU"] if "cpu" in values else []
        parts.append(f"{name}={'/'.join(shown)}")
    return " ".join(parts)


def cmd_set(ctx: Context, args: argparse.Namespace) -> None:
    limits = parse_limits(args.memory, args.cpu)
    app = ctx.app(args)
    message = f"Limiting {_describe(limits)} and restarting {app}"
    roll(ctx, args, app, "PATCH", api_path("apps", app, "formation"), {"limits": limits}, message)


def cmd_unset(ctx: Context, args: argparse.Namespace) -> None:
    types = list(dict.fromkeys(args.types))
    for name in types:
        if not TYPE_RE.fullmatch(name):
            raise CLIError(f"Invalid process type {name[:40]!r}")
    app = ctx.app(args)
    body = {"limits": {name: {"memory": None, "cpu": None} for name in types}}
    message = f"Removing the limits of {', '.join(types)} and restarting {app}"
    roll(ctx, args, app, "PATCH", api_path("apps", app, "formation"), body, message)
