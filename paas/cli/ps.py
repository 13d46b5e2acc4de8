"""ps:* — processes: the running instances, scaling, rolling restarts and the deploy settings."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Sequence
from typing import Any

from .base import Context, Registry
from .client import Client, api_path
from .errors import CLIError
from .output import Progress, align, fmt_time, fmt_version, print_info, print_json
from .releases_common import add_no_wait, settle_deployment, wait_params

SCALE_RE = re.compile(r"^([A-Za-z0-9_-]+)=([0-9]+)$")
SECONDS_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(s|m)?$")

# ps:scale polls the instances until each scaled type has its quantity ready.
SCALE_POLL_INTERVAL = 0.5
SCALE_DEADLINE = 120.0

WEB = "web"
# The update policy: option name, API field, label.
UPDATE_FIELDS = (
    ("min_healthy_time", "Min healthy time", "how long a canary must stay healthy before promotion"),
    ("healthy_deadline", "Healthy deadline", "how long a canary has to become healthy"),
    ("drain_time", "Drain time", "how long a retired instance keeps serving after deregistration"),
    ("stop_timeout", "Stop timeout", "how long a stopping instance gets before SIGKILL"),
)


def register(reg: Registry) -> None:
    reg.add(
        "ps",
        cmd_list,
        "Show the instances of each process type and the deploy in progress",
        aliases=("ps:list",),
        app=True,
        json=True,
    )
    parser = reg.add("ps:scale", cmd_scale, "Scale process types, e.g. ps:scale web=3 worker=1", app=True, json=True)
    parser.add_argument("quantities", nargs="+", metavar="TYPE=N")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for the instances to be up")
    parser = reg.add(
        "ps:restart", cmd_restart, "Restart processes with fresh instances (rolling, no downtime)", app=True, json=True
    )
    parser.add_argument("type", nargs="?", metavar="TYPE", help="a process type (the controller rolls every type)")
    add_no_wait(parser)
    parser = reg.add(
        "ps:update",
        cmd_update,
        "Show or change the deploy settings (canary timings)",
        aliases=("deploy:settings",),
        app=True,
        json=True,
    )
    for name, _, help_text in UPDATE_FIELDS:
        parser.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=seconds, metavar="S", help=f"{help_text} (seconds)"
        )
    parser.add_argument("--check-failures", dest="check_failures", type=int, metavar="N",
                        help="failed checks in a row (after a first answer) that fail a deploy")


def parse_scale(items: Sequence[str]) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in items:
        match = SCALE_RE.fullmatch(item.strip())
        if not match:
            raise CLIError(f"Invalid scale {item[:40]!r}: expected TYPE=N, e.g. web=3")
        name, quantity = match.group(1), int(match.group(2))
        if name in result:
            raise CLIError(f"Process type {name} is given more than once")
        result[name] = quantity
    return result


def seconds(text: str) -> float:
    """'10', '10s', '1.5' or '2m' -> seconds."""
    match = SECONDS_RE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected seconds, e.g. 10 or 1.5s or 2m, got {text!r}")
    value = float(match.group(1))
    return value * 60 if match.group(2) == "m" else value


def fmt_seconds(value: Any) -> str:
    return f"{value:g}s" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _summary(formation: dict[str, Any]) -> str:
    processes = formation.get("processes") or []
    return " ".join(f"{p.get('type')}={p.get('quantity')}" for p in processes) or "no processes"


# --- ps -----------------------------------------------------------------------------------


def _type_order(name: str) -> tuple[bool, str]:
    return (name != WEB, name)


def instance_name(instance: dict[str, Any]) -> str:
    """'web.3f9a1c': the type and the last part of the instance id (what log lines are prefixed with)."""
    ident = str(instance.get("id") or "?")
    suffix = ident.rsplit("-", 1)[-1] if "-" in ident else ident[:12]
    return f"{instance.get('type') or '?'}.{suffix}"


def _since(value: Any) -> str:
    text = fmt_time(value)
    # Docker reports a container that never started as year 1.
    return f"since {text}" if text and not text.startswith("0001-") else ""


def deployment_line(deployment: dict[str, Any] | None) -> str | None:
    """One line about the current deployment when it needs attention (running or failed)."""
    if not deployment or deployment.get("status") not in ("running", "failed"):
        return None
    status = deployment.get("status")
    line = f"Deployment {deployment.get('id')} of {fmt_version(deployment.get('release'))} {status}"
    description = deployment.get("description")
    if description:
        line += f": {description}"
    if status == "running":
        groups = deployment.get("groups") or {}
        parts = [
            f"{name} {g.get('healthy', 0)}/{g.get('desired_canaries', 0)} canaries healthy"
            for name, g in sorted(groups.items(), key=lambda item: _type_order(item[0]))
            if isinstance(g, dict) and not g.get("promoted") and g.get("desired_canaries")
        ]
        if parts:
            line += f" ({', '.join(parts)})"
    return line


def _state(instance: dict[str, Any]) -> str:
    """'running', or 'crashed (3 restarts, last exit 1)' for an instance in a crash loop."""
    state = str(instance.get("state") or "-")
    restarts, code = instance.get("restarts") or 0, instance.get("exit_code")
    details = [f"{restarts} restart{'s' if restarts != 1 else ''}"] if restarts else []
    if code is not None and (restarts or state != "running"):
        details.append(f"last exit {code}")
    return f"{state} ({', '.join(details)})" if details else state


def render_ps(formation: dict[str, Any], ps: dict[str, Any]) -> list[str]:
    processes = {p.get("type"): p for p in formation.get("processes") or [] if p.get("type")}
    instances = ps.get("instances") or []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for instance in instances:
        by_type.setdefault(str(instance.get("type") or "?"), []).append(instance)
    types = sorted(set(processes) | set(by_type), key=_type_order)
    lines: list[str] = []
    if not types:
        lines.append("No process types yet: deploy a build first")
    rows = [
        (
            instance_name(i),
            fmt_version(i.get("release")),
            _state(i),
            i.get("health") or "-",
            i.get("address") or "-",
            " ".join(filter(None, [_since(i.get("started_at")), "(canary)" if i.get("canary") else ""])),
        )
        for name in types
        for i in by_type.get(name, [])
    ]
    aligned = iter(align(rows))
    for name in types:
        quantity = processes[name].get("quantity") if name in processes else len(by_type.get(name, []))
        if lines:
            lines.append("")
        lines.append(f"=== {name} ({quantity})")
        lines.extend(next(aligned) for _ in by_type.get(name, []))
    status = deployment_line(ps.get("deployment"))
    if status:
        lines += ["", status]
    return lines


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    client = ctx.client()
    formation = client.get(api_path("apps", app, "formation"))
    ps = client.get(api_path("apps", app, "ps"))
    if args.json:
        # One object: the formation (processes, update) and the instances with the deployment.
        print_json({**formation, **ps})
        return
    print("\n".join(render_ps(formation, ps)))


# --- ps:scale -----------------------------------------------------------------------------


def live_release(ps: dict[str, Any]) -> int | None:
    """The release serving now: the one the current deployment finished, else that of the
    instances that are not canaries of a deployment in progress (or failed)."""
    deployment = ps.get("deployment") or {}
    if deployment.get("status") == "successful":
        return deployment.get("release")
    settled = [i.get("release") for i in ps.get("instances") or [] if not i.get("canary")]
    settled = [r for r in settled if isinstance(r, int)]
    if deployment:
        older = [r for r in settled if r != deployment.get("release")]
        if older:
            return max(older)
    return max(settled, default=None)


def is_ready(instance: dict[str, Any]) -> bool:
    if instance.get("state") != "running":
        return False
    return instance.get("health") == "passing" if instance.get("type") == WEB else True


def ready_counts(ps: dict[str, Any], types: Sequence[str]) -> dict[str, int]:
    """Per type, the running (web: and passing) instances of the live release."""
    live = live_release(ps)
    counts = dict.fromkeys(types, 0)
    for instance in ps.get("instances") or []:
        kind = instance.get("type")
        if kind in counts and instance.get("release") == live and is_ready(instance):
            counts[kind] += 1
    return counts


def wait_for_scale(client: Client, app: str, quantities: dict[str, int]) -> None:
    deadline = time.monotonic() + SCALE_DEADLINE
    while True:
        counts = ready_counts(client.get(api_path("apps", app, "ps")), list(quantities))
        if counts == quantities:
            return
        if time.monotonic() >= deadline:
            state = ", ".join(f"{name} {counts[name]}/{quantities[name]}" for name in quantities)
            raise CLIError(f"{app} is not at its new scale after {SCALE_DEADLINE:g}s ({state} ready): see 'paas ps'")
        time.sleep(SCALE_POLL_INTERVAL)


def cmd_scale(ctx: Context, args: argparse.Namespace) -> None:
    quantities = parse_scale(args.quantities)
    app = ctx.app(args)
    client = ctx.client()
    with Progress(f"Scaling {app} processes", quiet=args.json) as progress:
        formation = client.patch(api_path("apps", app, "formation"), {"quantities": quantities})
        if not args.no_wait:
            wait_for_scale(client, app, quantities)
        progress.done(f"now {_summary(formation)}")
    if args.json:
        print_json(formation)


# --- ps:restart and other rolls of the live release ---------------------------------------


def roll(ctx: Context, args: argparse.Namespace, app: str, method: str, path: str, body: Any, message: str) -> None:
    """A change that rolls fresh instances (restart, limits, health checks): the controller waits
    for the deployment unless --no-wait; a failed one is an error."""
    client = ctx.client()
    with Progress(message, quiet=args.json) as progress:
        result = client.request(method, path, body=body, params=wait_params(args))
        if args.json:
            print_json(result)
        progress.done(settle_deployment((result or {}).get("deployment")))


def cmd_restart(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    body = {"type": args.type} if args.type else {}
    roll(ctx, args, app, "POST", api_path("apps", app, "ps", "restart"), body, f"Restarting {app} processes")


# --- ps:update ----------------------------------------------------------------------------


def _print_update(app: str, update: dict[str, Any]) -> None:
    print_info(f"{app} deploy settings", [(label, fmt_seconds(update.get(name))) for name, label, _ in UPDATE_FIELDS]
               + [("Check failures", update.get("check_failures"))])


def cmd_update(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    client = ctx.client()
    changes = {name: getattr(args, name) for name in [*(f for f, _, _ in UPDATE_FIELDS), "check_failures"]
               if getattr(args, name) is not None}
    if not changes:
        formation = client.get(api_path("apps", app, "formation"))
        if args.json:
            print_json(formation)
        else:
            _print_update(app, formation.get("update") or {})
        return
    with Progress(f"Updating the deploy settings of {app}", quiet=args.json):
        formation = client.patch(api_path("apps", app, "formation"), {"update": changes})
    if args.json:
        print_json(formation)
    else:
        _print_update(app, formation.get("update") or {})
