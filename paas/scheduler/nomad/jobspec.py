"""What to submit to Nomad for a plan, as pure functions: the HCL2 job of an app (one group per
process type) and the parameterized batch job one-off runs are dispatched from. Rendered from
jobspecs/*.nomad.hcl.j2; every user string goes through the `hcl` filter.

The router's tags (live and canary) come in through the RouteTags port (domain/ports.py), so this
adapter does not import the router adapter: wiring passes the router's implementation.
The job's Meta carries `paas_deployment`, the id of the platform's deployment that registered
the version: it labels every allocation of that version (Nomad makes a Meta change destructive,
so a new deployment id always means new allocations)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import jinja2

from paas.config import REPO_DIR
from paas.domain import names
from paas.domain.errors import ValidationError
from paas.domain.ports import RouteTags
from paas.domain.scheduler import CONTAINER_PORT, AppPlan, ProcessPlan

from .options import Constraint, NomadOptions

JOBSPECS_DIR = REPO_DIR / "jobspecs"
APP_TEMPLATE = "app.nomad.hcl.j2"
RUN_TEMPLATE = "run.nomad.hcl.j2"
RUN_GROUP = "run"
# Job Meta keys the adapter reads back.
DEPLOYMENT_META = "paas_deployment"
RELEASE_META = "release"
PLATFORM_META = "platform"
APP_META = "app"
# Nomad fills this in from the dispatch Meta at run time (runtime interpolation, not HCL's).
RUN_COMMAND_ARG = "${NOMAD_META_command}"
# Buildpack images carry /paas/launcher (profile.d, then `bash -c "$*"`); other images run the
# Procfile command through /bin/sh, as the docker scheduler does. "$0" is the command (args[0]).
LAUNCHER_PROBE = 'if [ -x /paas/launcher ]; then exec /paas/launcher "$0"; fi; exec /bin/sh -c "$0"'
MEMORY_RE = re.compile(r"^([0-9]+)([KMG])B?$", re.IGNORECASE)


def hcl_string(value: Any) -> str:
    """A quoted HCL2 string literal of value: escapes, and ${ / %{ doubled so HCL keeps them
    literal (Nomad's own runtime interpolation may still expand ${...} in env and args)."""
    text = str(value)
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    escaped = "".join(out).replace("${", "$${").replace("%{", "%%{")
    return f'"{escaped}"'


def hcl_list(values: Iterable[Any], indent: int | None = None) -> str:
    """A list of HCL strings: inline, or one per line (trailing commas) when indent is given."""
    items = [hcl_string(v) for v in values]
    if indent is None or len(items) <= 1:
        return "[" + ", ".join(items) + "]"
    pad = " " * (indent + 2)
    return "[\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + "]"


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration string: 1 -> "1s", 0.25 -> "250ms"."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def memory_mb(value: str | None, default: str) -> int:
    """'512M' / '1G' / '65536K' (the formation's limits syntax) in MB, at least Nomad's 10 MB."""
    text = (value or default).strip()
    match = MEMORY_RE.fullmatch(text)
    if not match:
        raise ValidationError(f"Invalid memory limit {text[:20]!r}: use a number and K, M or G (e.g. 512M)")
    number, unit = int(match.group(1)), match.group(2).upper()
    mb = {"K": number / 1024, "M": number, "G": number * 1024}[unit]
    return max(10, math.ceil(mb))


def cpu_mhz(cores: float | None, options: NomadOptions) -> int:
    return max(1, round((cores if cores is not None else options.default_cpu) * options.mhz_per_core))


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(JOBSPECS_DIR)),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 -- HCL, not HTML: every value goes through the hcl filter
)
_ENV.filters["hcl"] = hcl_string
_ENV.filters["hcl_list"] = hcl_list


def _command(process_command: str) -> tuple[list[str], list[str]]:
    if not process_command.strip():
        return [], []  # the image's own ENTRYPOINT/CMD
    return ["/bin/sh", "-c", LAUNCHER_PROBE], [process_command]


def _task(plan: AppPlan, process: ProcessPlan, options: NomadOptions) -> dict:
    env = {**plan.env, "PAAS_APP": plan.app, "PAAS_RELEASE": f"v{plan.release}", "PAAS_PROCESS_TYPE": process.type}
    if process.is_web:
        env["PORT"] = str(CONTAINER_PORT)
    entrypoint, args = _command(process.command)
    return {
        "image": plan.image,
        "entrypoint": entrypoint,
        "args": args,
        "env": dict(sorted(env.items())),
        "cpu": cpu_mhz(process.cpu, options),
        "memory": memory_mb(process.memory, options.default_memory),
        "kill_timeout": go_duration(plan.update.stop_timeout),
        "user": options.app_user,
        "pids_limit": options.pids_limit,
    }


def _context(plan: AppPlan, options: NomadOptions, the_job_id: str, deployment_id: str) -> dict:
    auth = None
    if options.registry_username and options.registry_password:
        auth = {"username": options.registry_username, "password": options.registry_password,
                "server_address": options.registry}
    return {
        "job_id": the_job_id,
        "app": plan.app,
        "release": plan.release,
        "datacenters": list(options.datacenters),
        "node_pool": options.node_pool,
        "constraints": [Constraint.parse(c) for c in options.constraints],
        "meta": {
            APP_META: plan.app,
            RELEASE_META: str(plan.release),
            "git_sha": plan.git_sha or "",
            "build_id": plan.build_id or "",
            "restart_token": plan.restart_token or "",
            PLATFORM_META: options.platform,
            DEPLOYMENT_META: deployment_id,
        },
        "auth": auth,
        "container_port": CONTAINER_PORT,
        "network_mode": options.network_mode,
    }


def render_job(plan: AppPlan, settings: Any, tags: RouteTags, deployment_id: str = "", *,
               canaries: bool = True) -> str:
    """The HCL2 job of plan, registered by deployment `deployment_id`. settings: Settings or
    NomadOptions. Every group has canary = count (blue/green beside the old allocations) and
    auto_promote off: the platform judges the canaries and promotes them. canaries=False (what
    reconcile registers for the live deployment): canary = 0, so that whatever Nomad must replace
    is replaced in place of the old allocations, with nobody to promote it."""
    options = NomadOptions.from_settings(settings)
    update = plan.update.validate()
    live, canary = tags.live(plan), tags.canary(plan)
    if set(live) == set(canary):
        raise ValidationError("Live and canary tags must differ, or canaries would take live traffic")
    timings = {
        "min_healthy_time": go_duration(update.min_healthy_time),
        "healthy_deadline": go_duration(update.healthy_deadline),
        "progress_deadline": go_duration(update.healthy_deadline + options.progress_grace),
    }
    running = [p for p in plan.processes if p.quantity > 0]
    # A job needs a group: with every type scaled to 0, keep them all at count 0 (no allocations,
    # no deployment), so the job still says which release it is.
    selected = running or list(plan.processes)
    if not selected:
        raise ValidationError(f"Release v{plan.release} of {plan.app} has no process types to run")
    groups = []
    for process in selected:
        group = {
            "name": process.type,
            "count": process.quantity if running else 0,
            "canary": process.quantity if running and canaries else 0,
            "web": process.is_web,
            "health_check": "checks" if process.is_web else "task_states",
            "timings": timings,
            "shutdown_delay": go_duration(update.drain_time),
            "service": None,
            **_task(plan, process, options),
        }
        if process.is_web:
            name = names.service(plan.app, process.type)
            check = {"name": f"{name} http" if process.healthcheck else f"{name} tcp",
                     "type": "http" if process.healthcheck else "tcp", "path": process.healthcheck,
                     "interval": go_duration(options.check_interval), "timeout": go_duration(options.check_timeout)}
            group["service"] = {"name": name, "tags": live, "canary_tags": canary, "check": check,
                                "meta": {"app": plan.app, "release": str(plan.release), "type": process.type}}
        groups.append(group)
    context = {**_context(plan, options, names.job(plan.app), deployment_id), "groups": groups}
    return _ENV.get_template(APP_TEMPLATE).render(**context)


def render_run_job(plan: AppPlan, settings: Any) -> str:
    """The parameterized batch job that one-off runs of plan.release are dispatched from."""
    options = NomadOptions.from_settings(settings)
    # Limits of the web process (else the first type): a run is usually a web-sized task.
    like = plan.process("web") or (plan.processes[0] if plan.processes else None)
    task = _task(plan, ProcessPlan(type=RUN_GROUP, command="-", quantity=1, memory=like.memory if like else None,
                                   cpu=like.cpu if like else None), options)
    context = {**_context(plan, options, names.run_job(plan.app), ""), "task": task,
               "command_arg": RUN_COMMAND_ARG}
    return _ENV.get_template(RUN_TEMPLATE).render(**context)
