"""NomadApiDouble: a stateful double of the Nomad HTTP API, for tests. It is not Nomad.

No Nomad binary can be installed on these machines, so the nomad scheduler adapter is tested
against this HTTP server (stdlib http.server, a thread, 127.0.0.1:<free port>). It implements
exactly the endpoints paas/scheduler/nomad/ calls, with the semantics that Nomad documents
(shared/reference/NOMAD-CONSUL.md, Nomad's reconciler and deployment watcher):

    POST   /v1/jobs/parse                HCL2 -> JSON job (python-hcl2; the subset our jobspecs use)
    POST   /v1/jobs                      register; EnforceIndex CAS -> HTTP 500 "Enforcing job modify index..."
    GET    /v1/jobs?prefix=&meta=        job stubs (with Meta when meta=true)
    GET    /v1/job/:id                   the job       .../versions (the newest 6)  .../deployments  .../deployment
    GET    /v1/job/:id/allocations       stubs (?resources=true adds AllocatedResources)
    POST   /v1/job/:id/dispatch          parameterized batch jobs (?idempotency_token=)
    POST   /v1/job/:id/revert            a tracked version again (EnforcePriorVersion)
    DELETE /v1/job/:id                   deregister (?purge=true)
    GET    /v1/deployment/:id            POST /v1/deployment/promote/:id   POST /v1/deployment/fail/:id
    POST   /v1/deployment/allocation-health/:id                (HealthyAllocationIDs, UnhealthyAllocationIDs)
    GET    /v1/evaluation/:id            GET /v1/allocation/:id
    GET    /v1/client/fs/logs/:alloc     plain=true only; follow streams until the task is dead

Every GET is a blocking query (?index=&wait=) on one global index (X-Nomad-Index); a return does
not mean that something changed. ACLs (X-Nomad-Token) when acl=True: 403 for a token without the
capability. `unreachable()` closes the listening socket (connection refused) and reopens it.

Scheduling, simplified but faithful where the adapter can tell: a job version places its
allocations at once on one node ("double-node-1"); the first version, in-place changes (count,
update, services) and destructive changes (task config, env, resources, job meta, network)
create a deployment, a destructive change with canary > 0 places DesiredCanaries canaries beside
the old allocations. Health: "task_states" groups are healthy after min_healthy_time running;
"checks" groups after min_healthy_time of passing checks, where the test says what the checks
return (set_checks / a default) -- no Consul is involved; undecided allocations turn unhealthy at
healthy_deadline. Promote is refused until every canary is healthy, then the old allocations
stop; failing a deployment with auto_revert registers the last stable version again. Batch
tasks do not run anything: `run_handler` turns the command into output and an exit code (by
default a tiny simulation of echo/exit/true/false). A web allocation's "app" is a real HTTP
listener on its port answering by its check status (200 / 500 "unhealthy"; refused while the
status is unset), so a client's own probe sees what Consul would. A service task may end right
after it starts (`task_exit`: exit code, stderr lines, OOM kill): Terminated carries ExitCode,
Signal and Details exit_code/signal/oom_killed/exit_message as Nomad's task runner emits them,
then the group's restart policy applies (Restarting and Restarts + 1 while attempts remain, else
Not Restarting and the allocation fails; failed allocations are not rescheduled). A stopped
allocation keeps running for its group's shutdown_delay. Timings come from the jobs, so tests use
short ones; the internal clock ticks every `tick` seconds.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import re
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hcl2
from hcl2.utils import SerializationOptions

SEC = 1_000_000_000
DEFAULT_UPDATE = {
    "Stagger": 30 * SEC, "MaxParallel": 1, "HealthCheck": "checks", "MinHealthyTime": 10 * SEC,
    "HealthyDeadline": 300 * SEC, "ProgressDeadline": 600 * SEC, "AutoRevert": False, "AutoPromote": False,
    "Canary": 0,
}
RESTART_DEFAULTS = {
    "service": {"Attempts": 2, "Interval": 1800 * SEC, "Delay": 15 * SEC, "Mode": "fail", "RenderTemplates": False},
    "batch": {"Attempts": 3, "Interval": 86400 * SEC, "Delay": 15 * SEC, "Mode": "fail", "RenderTemplates": False},
}
SERVER_FIELDS = {"Version", "Stable", "SubmitTime", "CreateIndex", "ModifyIndex", "JobModifyIndex", "Status",
                 "StatusDescription", "Stop"}
# Nomad's runtime variables: left as ${...} in the parsed job, expanded on the client.
RUNTIME_VARS = re.compile(r"^(node|attr|meta|unique|env|NOMAD_[A-Za-z0-9_]+)\b")
DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
DURATION_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
CAPABILITIES = {"parse-job", "submit-job", "read-job", "dispatch-job", "read-logs", "list-jobs"}
LIVE = {"pending", "running"}
TERMINAL = {"complete", "failed", "lost"}


class DoubleError(Exception):
    """An HTTP error answer of the double: status and Nomad's plain-text body."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


@dataclass
class TaskExit:
    """How a simulated service task ends right after it starts (NomadApiDouble.task_exit): its
    output (stderr) first, then the exit code; oom_killed as the docker driver reports an OOM
    kill (exit code 137, Details oom_killed=true, exit message "OOM Killed")."""

    code: int
    lines: list[str] = dataclasses.field(default_factory=list)
    oom_killed: bool = False
    signal: int = 0


def parse_duration(value: Any) -> int:
    """A Go duration ("1s", "250ms", "1m30s") or a number of nanoseconds, in nanoseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    for match in DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise DoubleError(400, f"time: invalid duration {text!r}")
    return int(total)


# ------------------------------------------------------------------------------ HCL2 -> job JSON
def _string(raw: Any, where: str) -> Any:
    """Decode a python-hcl2 value: quoted strings lose quotes and escapes; lists recurse."""
    if isinstance(raw, list):
        return [_string(item, where) for item in raw]
    if not (isinstance(raw, str) and len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"'):
        if isinstance(raw, str) and raw.startswith("${"):
            raise DoubleError(400, f"{where}: expressions are not supported by NomadApiDouble: {raw}")
        return raw
    body, out, i = raw[1:-1], [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
            elif nxt in "uU":
                width = 4 if nxt == "u" else 8
                out.append(chr(int(body[i + 2:i + 2 + width], 16)))
                i += 2 + width
            else:
                raise DoubleError(400, f"{where}: invalid escape sequence \\{nxt}")
        elif body.startswith("$${", i) or body.startswith("%%{", i):
            out.append(body[i] + "{")
            i += 3
        elif body.startswith("%{", i):
            raise DoubleError(400, f"{where}: template directives are not supported by NomadApiDouble")
        elif body.startswith("${", i):
            end = body.find("}", i)
            inner = body[i + 2:end]
            if end < 0 or not RUNTIME_VARS.match(inner):
                raise DoubleError(400, f"{where}: Unknown variable; There is no variable named {inner!r}")
            out.append(body[i:end + 1])
            i = end + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _is_block_list(value: Any) -> bool:
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        return False
    first = value[0]
    return bool(first.get("__is_block__")) or all(isinstance(v, dict) and v.get("__is_block__") for v in first.values())


def _blocks(body: dict, name: str) -> list[tuple[str | None, dict]]:
    out: list[tuple[str | None, dict]] = []
    for item in body.get(name) or []:
        if item.get("__is_block__"):
            out.append((None, item))
        else:
            for label, inner in item.items():
                out.append((_string(label, name), inner))
    return out


def _one(body: dict, name: str) -> dict | None:
    found = _blocks(body, name)
    if len(found) > 1:
        raise DoubleError(400, f"only one {name} block is allowed")
    return found[0][1] if found else None


def _keys(body: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(k for k in body if not k.startswith("__") and k not in allowed)
    if unknown:
        raise DoubleError(400, f"{where}: unsupported by NomadApiDouble (or invalid): {', '.join(unknown)}")


def _attr(body: dict, name: str, where: str, default: Any = None) -> Any:
    return _string(body[name], f"{where}.{name}") if name in body else default


def _map(body: dict | None, where: str) -> dict[str, str] | None:
    """A meta/env block or object attribute as {str: str}."""
    if body is None:
        return None
    out = {}
    for key, value in body.items():
        if key.startswith("__"):
            continue
        decoded = _string(value, where)
        out[_string(key, where)] = str(decoded).lower() if isinstance(decoded, bool) else str(decoded)
    return out


def _generic(body: dict, where: str) -> dict:
    """A driver config: attributes decoded, nested blocks as lists of maps (as Nomad does)."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key.startswith("__"):
            continue
        if _is_block_list(value):
            out[key] = [_generic(inner, f"{where}.{key}") for _, inner in _blocks(body, key)]
        elif isinstance(value, dict):
            out[key] = {_string(k, where): _string(v, where) for k, v in value.items() if not k.startswith("__")}
        else:
            out[key] = _string(value, f"{where}.{key}")
    return out


def _update(body: dict | None, where: str) -> dict | None:
    if body is None:
        return None
    _keys(body, {"canary", "max_parallel", "auto_promote", "auto_revert", "health_check", "min_healthy_time",
                 "healthy_deadline", "progress_deadline", "stagger"}, where)
    names = {"canary": "Canary", "max_parallel": "MaxParallel", "auto_promote": "AutoPromote",
             "auto_revert": "AutoRevert", "health_check": "HealthCheck"}
    out = {names[k]: _attr(body, k, where) for k in names if k in body}
    for key, field in (("min_healthy_time", "MinHealthyTime"), ("healthy_deadline", "HealthyDeadline"),
                       ("progress_deadline", "ProgressDeadline"), ("stagger", "Stagger")):
        if key in body:
            out[field] = parse_duration(_attr(body, key, where))
    return out


def _constraints(body: dict, where: str) -> list[dict] | None:
    out = []
    for _, c in _blocks(body, "constraint"):
        _keys(c, {"attribute", "operator", "value"}, f"{where}.constraint")
        out.append({"LTarget": _attr(c, "attribute", where, ""), "Operand": _attr(c, "operator", where, "="),
                    "RTarget": _attr(c, "value", where, "")})
    return out or None


def _service(body: dict, where: str) -> dict:
    _keys(body, {"name", "port", "provider", "tags", "canary_tags", "meta", "canary_meta", "check"}, where)
    checks = []
    for _, check in _blocks(body, "check"):
        _keys(check, {"name", "type", "path", "interval", "timeout", "port", "method", "protocol"}, f"{where}.check")
        checks.append({
            "Name": _attr(check, "name", where, ""), "Type": _attr(check, "type", where, ""),
            "Path": _attr(check, "path", where, ""), "PortLabel": _attr(check, "port", where, ""),
            "Method": _attr(check, "method", where, ""), "Protocol": _attr(check, "protocol", where, ""),
            "Interval": parse_duration(_attr(check, "interval", where, "0")),
            "Timeout": parse_duration(_attr(check, "timeout", where, "0")),
        })
    return {
        "Name": _attr(body, "name", where, ""), "PortLabel": _attr(body, "port", where, ""),
        "Provider": _attr(body, "provider", where, "consul"), "Tags": _attr(body, "tags", where),
        "CanaryTags": _attr(body, "canary_tags", where), "Meta": _map(_one(body, "meta"), f"{where}.meta"),
        "CanaryMeta": _map(_one(body, "canary_meta"), f"{where}.canary_meta"), "Checks": checks or None,
    }


def _task(name: str, body: dict, where: str) -> dict:
    _keys(body, {"driver", "config", "env", "resources", "kill_timeout", "meta", "user"}, where)
    env = body.get("env")
    if isinstance(env, list):  # the env { } block form
        env = _one(body, "env")
    resources = _one(body, "resources") or {}
    _keys(resources, {"cpu", "memory", "memory_max", "cores"}, f"{where}.resources")
    return {
        "Name": name, "Driver": _attr(body, "driver", where, ""), "User": _attr(body, "user", where, ""),
        "Config": _generic(_one(body, "config") or {}, f"{where}.config"),
        "Env": _map(env, f"{where}.env"), "Meta": _map(_one(body, "meta"), f"{where}.meta"),
        "Resources": {"CPU": _attr(resources, "cpu", where, 100), "MemoryMB": _attr(resources, "memory", where, 300),
                      "MemoryMaxMB": _attr(resources, "memory_max", where, 0)},
        "KillTimeout": parse_duration(_attr(body, "kill_timeout", where, "5s")),
    }


def _group(name: str, body: dict, where: str) -> dict:
    _keys(body, {"count", "update", "network", "service", "task", "restart", "reschedule", "shutdown_delay",
                 "constraint", "meta"}, where)
    networks = []
    for _, net in _blocks(body, "network"):
        _keys(net, {"mode", "port"}, f"{where}.network")
        dynamic, reserved = [], []
        for label, port in _blocks(net, "port"):
            _keys(port, {"to", "static", "host_network"}, f"{where}.network.port")
            entry = {"Label": label, "To": _attr(port, "to", where, 0), "Value": _attr(port, "static", where, 0),
                     "HostNetwork": _attr(port, "host_network", where, "default")}
            (reserved if entry["Value"] else dynamic).append(entry)
        networks.append({"Mode": _attr(net, "mode", where, "host"), "DynamicPorts": dynamic or None,
                         "ReservedPorts": reserved or None})
    restart = _one(body, "restart")
    reschedule = _one(body, "reschedule")
    group = {
        "Name": name, "Count": _attr(body, "count", where, 1), "Update": _update(_one(body, "update"), f"{where}.update"),
        "Networks": networks or None, "Services": [_service(s, f"{where}.service") for _, s in _blocks(body, "service")] or None,
        "Tasks": [_task(t, b, f"{where}.task.{t}") for t, b in _blocks(body, "task")],
        "Constraints": _constraints(body, where), "Meta": _map(_one(body, "meta"), f"{where}.meta"),
        "ShutdownDelay": parse_duration(_attr(body, "shutdown_delay", where, "0")) or None,
        "RestartPolicy": None, "ReschedulePolicy": None,
    }
    if restart is not None:
        _keys(restart, {"attempts", "interval", "delay", "mode", "render_templates"}, f"{where}.restart")
        group["RestartPolicy"] = {"Attempts": _attr(restart, "attempts", where), "Mode": _attr(restart, "mode", where),
                                  "Interval": parse_duration(_attr(restart, "interval", where, "0")) or None,
                                  "Delay": parse_duration(_attr(restart, "delay", where, "0")) or None}
    if reschedule is not None:
        _keys(reschedule, {"attempts", "interval", "delay", "delay_function", "max_delay", "unlimited"},
              f"{where}.reschedule")
        group["ReschedulePolicy"] = {"Attempts": _attr(reschedule, "attempts", where),
                                     "Unlimited": _attr(reschedule, "unlimited", where)}
    return group


def hcl_to_job(text: str) -> dict:
    """The JSON job (not canonicalized) of an HCL2 jobspec, as /v1/jobs/parse returns it."""
    try:
        data = hcl2.loads(text, serialization_options=SerializationOptions(with_comments=False))
    except Exception as exc:  # noqa: BLE001 -- lark raises many kinds; Nomad answers 400 for all
        raise DoubleError(400, f"input.hcl: {str(exc).splitlines()[0][:300]}") from None
    _keys(data, {"job"}, "top level")
    jobs = _blocks(data, "job")
    if len(jobs) != 1:
        raise DoubleError(400, "input.hcl: exactly one job block is required")
    name, body = jobs[0]
    where = f"job {name}"
    _keys(body, {"type", "datacenters", "node_pool", "namespace", "region", "priority", "constraint", "meta",
                 "update", "parameterized", "group"}, where)
    parameterized = _one(body, "parameterized")
    if parameterized is not None:
        _keys(parameterized, {"payload", "meta_required", "meta_optional"}, f"{where}.parameterized")
        parameterized = {"Payload": _attr(parameterized, "payload", where, "optional"),
                         "MetaRequired": _attr(parameterized, "meta_required", where),
                         "MetaOptional": _attr(parameterized, "meta_optional", where)}
    return {
        "ID": name, "Name": name, "Type": _attr(body, "type", where, "service"),
        "Namespace": _attr(body, "namespace", where, None), "Region": _attr(body, "region", where, None),
        "Priority": _attr(body, "priority", where, None), "Datacenters": _attr(body, "datacenters", where),
        "NodePool": _attr(body, "node_pool", where, None), "Constraints": _constraints(body, where),
        "Meta": _map(_one(body, "meta"), f"{where}.meta"), "Update": _update(_one(body, "update"), f"{where}.update"),
        "ParameterizedJob": parameterized,
        "TaskGroups": [_group(g, b, f"{where}.group.{g}") for g, b in _blocks(body, "group")],
    }


def canonicalize(job: dict) -> dict:
    """Nomad's defaults: namespace, region, priority, each group's merged update block, restart."""
    job = copy.deepcopy(job)
    job["Namespace"] = job.get("Namespace") or "default"
    job["Region"] = job.get("Region") or "global"
    job["Priority"] = job.get("Priority") or 50
    job["Type"] = job.get("Type") or "service"
    job["NodePool"] = job.get("NodePool") or "default"
    job.setdefault("Meta", None)
    job.setdefault("ParameterizedJob", None)
    job_update = job.get("Update") or {}
    for group in job.get("TaskGroups") or []:
        if job["Type"] == "service":
            group["Update"] = {**DEFAULT_UPDATE, **job_update, **(group.get("Update") or {})}
        if group.get("RestartPolicy") is None or group["RestartPolicy"].get("Attempts") is None:
            group["RestartPolicy"] = {**RESTART_DEFAULTS.get(job["Type"], RESTART_DEFAULTS["service"]),
                                      **{k: v for k, v in (group.get("RestartPolicy") or {}).items() if v is not None}}
        group["Count"] = 1 if group.get("Count") is None else group["Count"]
        for task in group.get("Tasks") or []:
            task["Resources"] = {"CPU": 100, "MemoryMB": 300, **{k: v for k, v in (task.get("Resources") or {}).items() if v}}
    if job["Type"] == "service" and job.get("Update") is None:
        job["Update"] = {"Stagger": 30 * SEC, "MaxParallel": 1}
    return job


def validate(job: dict) -> None:
    """The subset of Nomad's job validation that matters to the platform (HTTP 400)."""
    problems = []
    if not job.get("ID") or not re.match(r"^[A-Za-z0-9_./-]+$", job["ID"]):
        problems.append("Missing or invalid job ID")
    if job.get("Type") not in ("service", "batch", "system", "sysbatch"):
        problems.append(f"Invalid job type {job.get('Type')!r}")
    if not job.get("Datacenters"):
        problems.append("Missing job datacenters")
    if not job.get("TaskGroups"):
        problems.append("Missing job task groups")
    if job.get("ParameterizedJob") and job.get("Type") not in ("batch", "sysbatch"):
        problems.append("Parameterized job can only be used with batch or sysbatch scheduler")
    names = [g["Name"] for g in job.get("TaskGroups") or []]
    if len(names) != len(set(names)):
        problems.append("Task group names must be unique")
    for group in job.get("TaskGroups") or []:
        where = f"Task group {group['Name']}"
        if group.get("Count", 0) < 0:
            problems.append(f"{where}: count can't be negative")
        update = group.get("Update")
        if update and job.get("Type") in ("batch", "sysbatch") and job.get("Update"):
            problems.append(f"{where}: update block is not allowed for {job['Type']} jobs")
        if update and job.get("Type") == "service":
            if update["HealthCheck"] not in ("checks", "task_states", "manual"):
                problems.append(f"{where}: invalid health_check {update['HealthCheck']!r}")
            if update["MinHealthyTime"] >= update["HealthyDeadline"]:
                problems.append(f"{where}: Minimum healthy time must be less than healthy deadline")
            if update["ProgressDeadline"] and update["HealthyDeadline"] >= update["ProgressDeadline"]:
                problems.append(f"{where}: Healthy deadline must be less than progress deadline")
            if update["AutoPromote"] and update["Canary"] <= 0:
                problems.append(f"{where}: Auto Promote requires a Canary count greater than zero")
            if update["Canary"] < 0 or update["MaxParallel"] < 0:
                problems.append(f"{where}: canary and max_parallel can't be negative")
        labels = {p["Label"] for n in group.get("Networks") or [] for p in (n.get("DynamicPorts") or []) +
                  (n.get("ReservedPorts") or [])}
        for service in group.get("Services") or []:
            if service.get("PortLabel") and service["PortLabel"] not in labels:
                problems.append(f"{where}: service {service['Name']!r} uses undefined port {service['PortLabel']!r}")
            for check in service.get("Checks") or []:
                if check["Type"] not in ("http", "tcp", "script", "grpc"):
                    problems.append(f"{where}: invalid check type {check['Type']!r}")
                if check["Type"] == "http" and not check["Path"]:
                    problems.append(f"{where}: http check requires a path")
                if check["Interval"] < SEC or check["Timeout"] < SEC:
                    problems.append(f"{where}: check interval and timeout must be at least 1s")
        if not group.get("Tasks"):
            problems.append(f"{where}: Missing tasks for task group")
        for task in group.get("Tasks") or []:
            if task.get("Driver") == "docker" and not (task.get("Config") or {}).get("image"):
                problems.append(f"{where}: task {task['Name']}: docker driver requires an image")
            if (task.get("Resources") or {}).get("MemoryMB", 0) < 10:
                problems.append(f"{where}: task {task['Name']}: minimum MemoryMB value is 10")
            if (task.get("Resources") or {}).get("CPU", 0) < 1:
                problems.append(f"{where}: task {task['Name']}: minimum CPU value is 1")
    if problems:
        raise DoubleError(400, f"{len(problems)} error(s) occurred:\n\n" + "\n".join(f"* {p}" for p in problems))


def simulate_shell(command: str, env: dict[str, str]) -> tuple[list[str], int]:
    """Default run_handler: echo, printenv, true, false, sleep, exit N, joined by ; && ||."""
    lines: list[str] = []
    code = 0
    parts = re.split(r"(;|&&|\|\|)", command)
    op = ";"
    for part in parts:
        if part in (";", "&&", "||"):
            op = part
            continue
        if (op == "&&" and code != 0) or (op == "||" and code == 0) or not part.strip():
            continue
        argv = shlex.split(part)
        name = argv[0]
        if name == "echo":
            lines.append(" ".join(argv[1:]))
            code = 0
        elif name == "exit":
            return lines, int(argv[1]) if len(argv) > 1 else code
        elif name in ("true", "sleep"):
            code = 0
        elif name == "false":
            code = 1
        elif name == "printenv":
            code = 0 if argv[1:] and argv[1] in env else 1
            if code == 0:
                lines.append(env[argv[1]])
        else:
            lines.append(f"sh: {name}: not found (NomadApiDouble simulates echo, printenv, true, false, sleep, exit)")
            code = 127
    return lines, code


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


# ------------------------------------------------------------------------------ the double
class NomadApiDouble:
    """A double of the Nomad HTTP API (see the module docstring). Not Nomad."""

    def __init__(self, *, acl: bool = False, checks: str | None = None, eval_delay: float = 0.0,
                 start_delay: float = 0.0, run_duration: float = 0.02, first_version_deployment: bool = True,
                 tick: float = 0.01):
        self.acl = acl
        self.checks_default = checks  # "passing" | "critical" | None (never decided: unhealthy at deadline)
        self.eval_delay = eval_delay
        self.start_delay = start_delay
        self.run_duration = run_duration
        # Nomad makes a deployment for a job's first version; False models one that does not
        # (deployments only on destructive changes): the version is marked stable once running.
        self.first_version_deployment = first_version_deployment
        self.tick = tick
        self.management_token = str(uuid.uuid4())
        self._tokens: dict[str, set[str]] = {self.management_token: set(CAPABILITIES)}
        self.task_output: Callable[[dict, dict], list[str]] = lambda alloc, task: [
            f"NomadApiDouble: started task {task['Name']} of {alloc['JobID']} ({task['Config'].get('image')})"]
        self.run_handler: Callable[[str, dict[str, str]], tuple[list[str], int]] = simulate_shell
        # How a service task ends right after it starts (None: it keeps running); then Nomad's
        # restart policy applies (Restarting, Restarts + 1, started again after the delay).
        self.task_exit: Callable[[dict, dict], TaskExit | None] = lambda alloc, task: None
        # What a new allocation's check returns when the test has not set it for its job version
        # (set_checks); None: checks_default.
        self.check_for: Callable[[dict, dict], str | None] | None = None
        # Nomad keeps this many versions of a job (JobTrackedVersions); older ones are forgotten.
        self.tracked_versions = 6
        self.requests: list[dict] = []
        self._faults: list[dict] = []
        self._connections: set[socket.socket] = set()
        self._cond = threading.Condition(threading.RLock())
        self._index = 1
        self._jobs: dict[str, dict] = {}  # id -> {"versions": [job...], "submissions": {v: sub}, "tokens": {}}
        self._allocs: dict[str, dict] = {}
        self._deployments: dict[str, dict] = {}
        self._evals: dict[str, dict] = {}
        self._policies: dict[tuple[str, int], str | None] = {}
        self._next_port = 21000
        self._listeners: dict[str, _AppListener] = {}
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self._stopping = False
        self._ticker: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> NomadApiDouble:
        self._serve()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick_loop, name="nomad-double-ticker", daemon=True)
            self._ticker.start()
        return self

    def _serve(self) -> None:
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        server = _Server(("127.0.0.1", self._port), Handler)
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _close(self) -> None:
        """Stop listening and cut every open connection (keep-alive ones included)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for conn in list(self._connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._connections.clear()

    def stop(self) -> None:
        self._stopping = True
        with self._cond:
            self._cond.notify_all()
            for alloc_id in list(self._listeners):
                self._unlisten(alloc_id)
        self._close()

    def __enter__(self) -> NomadApiDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextmanager
    def unreachable(self) -> Iterator[None]:
        """Nothing listens on the double's port meanwhile (connection refused); state is kept."""
        self._close()
        try:
            yield
        finally:
            self._serve()

    # ------------------------------------------------------------------ test controls
    def add_token(self, capabilities: set[str] | list[str]) -> str:
        """A new ACL token (secret) with these capabilities in the default namespace."""
        unknown = set(capabilities) - CAPABILITIES
        if unknown:
            raise ValueError(f"unknown capabilities {unknown}")
        secret = str(uuid.uuid4())
        self._tokens[secret] = set(capabilities)
        return secret

    def set_checks(self, job_id: str, status: str | None, version: int | None = None) -> None:
        """What the Consul checks of this job version's allocations return from now on:
        "passing", "critical" or None (no result). Default version: the job's latest."""
        with self._cond:
            record = self._jobs.get(job_id)
            if record is None:
                raise KeyError(job_id)
            version = record["versions"][-1]["Version"] if version is None else version
            self._policies[(job_id, version)] = status
            for alloc in self._live(job_id):
                if alloc["JobVersion"] == version:
                    alloc["_check"] = status
                    self._sync_listener(alloc)
            self._bump()

    def decide_health(self, alloc_id: str, healthy: bool) -> None:
        """Set an allocation's deployment health now (as Nomad's allocation-health endpoint)."""
        with self._cond:
            alloc = self._allocs[alloc_id]
            self._set_health(alloc, healthy, time.monotonic())
            self._bump()

    def crash(self, alloc_id: str) -> None:
        """The allocation's task dies (exit 1)."""
        with self._cond:
            alloc = self._allocs[alloc_id]
            self._finish(alloc, 1, time.monotonic())
            if (alloc.get("DeploymentStatus") or {}).get("Healthy") is None and alloc.get("DeploymentID"):
                self._set_health(alloc, False, time.monotonic())
            self._bump()

    def before(self, method: str, path: str, action: Callable[[], None], times: int = 1) -> None:
        """Run action() just before the next `times` requests matching method and the path regex
        are handled (e.g. a competing registration, to provoke a CAS conflict)."""
        self._faults.append({"method": method, "path": re.compile(path), "times": times, "action": action})

    def drop(self, method: str, path: str, *, after: bool = False, times: int = 1) -> None:
        """Hang up on the next `times` matching requests without an answer: before handling them
        (the request is lost) or, with after=True, once handled (the answer is lost)."""
        self._faults.append({"method": method, "path": re.compile(path), "times": times,
                             "drop": "after" if after else "before"})

    def _fault(self, method: str, path: str) -> dict | None:
        for fault in self._faults:
            if fault["times"] > 0 and fault["method"] == method and fault["path"].search(path):
                fault["times"] -= 1
                return fault
        return None

    def emit(self, alloc_id: str, text: str, stream: str = "stdout") -> None:
        with self._cond:
            alloc = self._allocs[alloc_id]
            task = alloc["TaskGroup"] if alloc["TaskGroup"] in alloc["_logs"] else next(iter(alloc["_logs"]))
            alloc["_logs"][task][stream] += text.encode()
            self._bump()

    # inspection (Python side; not endpoints)
    def job(self, job_id: str) -> dict | None:
        with self._cond:
            record = self._jobs.get(job_id)
            return copy.deepcopy(record["versions"][-1]) if record else None

    def submission(self, job_id: str, version: int | None = None) -> dict | None:
        with self._cond:
            record = self._jobs[job_id]
            version = record["versions"][-1]["Version"] if version is None else version
            return record["submissions"].get(version)

    def tracked_versions_of(self, job_id: str) -> list[dict]:
        """The versions GET /v1/job/:id/versions answers with (the newest tracked_versions)."""
        with self._cond:
            return copy.deepcopy(list(reversed(self._jobs[job_id]["versions"]))[: self.tracked_versions])

    def allocations(self, job_id: str) -> list[dict]:
        with self._cond:
            return [_public(a) for a in self._allocs.values() if a["JobID"] == job_id]

    def deployments(self, job_id: str) -> list[dict]:
        with self._cond:
            return [self._deployment_json(d) for d in self._job_deployments(job_id)]

    def jobs(self) -> list[str]:
        with self._cond:
            return sorted(self._jobs)

    # ------------------------------------------------------------------ clock
    def _bump(self) -> int:
        self._index += 1
        self._cond.notify_all()
        return self._index

    def _tick_loop(self) -> None:
        while not self._stopping:
            time.sleep(self.tick)
            with self._cond:
                if self._advance(time.monotonic()):
                    self._bump()

    def _advance(self, now: float) -> bool:
        changed = False
        for ev in list(self._evals.values()):
            if ev["Status"] == "pending" and now >= ev["_due"]:
                self._process_eval(ev, now)
                changed = True
        for alloc in list(self._allocs.values()):
            if alloc["ClientStatus"] == "pending" and alloc["DesiredStatus"] == "run" \
                    and alloc.get("_restart_at") is None and now >= alloc["_created"] + self.start_delay:
                self._start(alloc, now)
                changed = True
            if alloc["ClientStatus"] == "running" and alloc.get("_finish_at") is not None and now >= alloc["_finish_at"]:
                if alloc.get("_exit") is not None:
                    self._exit(alloc, alloc["_exit"], now)
                else:
                    self._finish(alloc, alloc["_exit_code"], now)
                changed = True
            if alloc.get("_restart_at") is not None and now >= alloc["_restart_at"]:
                alloc["_restart_at"] = None
                if alloc["DesiredStatus"] == "run":
                    self._start(alloc, now)
                changed = True
            if alloc.get("_kill_at") is not None and now >= alloc["_kill_at"]:
                self._kill(alloc)
                changed = True
            changed |= self._judge(alloc, now)
        for dep in list(self._deployments.values()):
            if dep["Status"] == "running":
                changed |= self._progress(dep, now)
        if not self.first_version_deployment:
            changed |= self._mark_stable_without_deployments()
        return changed

    # ------------------------------------------------------------------ jobs
    def _record(self, job_id: str) -> dict:
        record = self._jobs.get(job_id)
        if record is None:
            raise DoubleError(404, "job not found")
        return record

    def _current(self, job_id: str) -> dict:
        return self._record(job_id)["versions"][-1]

    def _version_of(self, job_id: str, version: int) -> dict:
        record = self._jobs[job_id]
        return next(j for j in record["versions"] if j["Version"] == version)

    def _register(self, job: dict, enforce: bool, modify_index: int, submission: dict | None,
                  now: float) -> dict:
        job = canonicalize(job)
        job.setdefault("ParentID", "")
        job.setdefault("Dispatched", False)
        validate(job)
        record = self._jobs.get(job["ID"])
        current = record["versions"][-1] if record else None
        if enforce:
            have = current["JobModifyIndex"] if current else 0
            if modify_index != have:
                if modify_index == 0:
                    raise DoubleError(500, f"Enforcing job modify index 0: job already exists with modify index {have}")
                if current is None:
                    raise DoubleError(500, f"Enforcing job modify index {modify_index}: job does not exist")
                raise DoubleError(500, f"Enforcing job modify index {modify_index}: job exists with conflicting "
                                       f"job modify index: {have}")
        index = self._bump()
        spec = {k: v for k, v in job.items() if k not in SERVER_FIELDS}
        if current and not current["Stop"] and spec == {k: v for k, v in current.items() if k not in SERVER_FIELDS}:
            job = current  # unchanged: same version, same JobModifyIndex; Nomad still evaluates it
        else:
            if record is None:
                record = self._jobs[job["ID"]] = {"versions": [], "submissions": {}, "tokens": {}, "create": index}
            job.update(Version=(current["Version"] + 1) if current else 0, Stable=False, Stop=False,
                       SubmitTime=time.time_ns(), CreateIndex=record["create"], ModifyIndex=index,
                       JobModifyIndex=index, Status="pending", StatusDescription="")
            record["versions"].append(job)
            if submission:
                record["submissions"][job["Version"]] = {**submission, "JobIndex": index}
        ev = self._new_eval(job["ID"], "job-register", now)
        return {"EvalID": ev["ID"], "EvalCreateIndex": ev["CreateIndex"], "JobModifyIndex": job["JobModifyIndex"],
                "Warnings": "", "Index": self._index, "KnownLeader": True, "LastContact": 0}

    def _new_eval(self, job_id: str, trigger: str, now: float) -> dict:
        index = self._bump()
        ev = {"ID": str(uuid.uuid4()), "JobID": job_id, "Namespace": "default", "Type": "service",
              "TriggeredBy": trigger, "Status": "pending", "StatusDescription": "", "CreateIndex": index,
              "ModifyIndex": index, "_due": now + self.eval_delay}
        self._evals[ev["ID"]] = ev
        if self.eval_delay <= 0:
            self._process_eval(ev, now)
        return ev

    def _process_eval(self, ev: dict, now: float) -> None:
        if ev["JobID"] in self._jobs:
            self._reconcile(self._current(ev["JobID"]), now)
        ev["Status"] = "complete"
        ev["ModifyIndex"] = self._bump()

    def _live(self, job_id: str) -> list[dict]:
        return [a for a in self._allocs.values()
                if a["JobID"] == job_id and a["DesiredStatus"] == "run" and a["ClientStatus"] in LIVE]

    def _job_deployments(self, job_id: str) -> list[dict]:
        return sorted((d for d in self._deployments.values() if d["JobID"] == job_id),
                      key=lambda d: d["CreateIndex"], reverse=True)

    @staticmethod
    def _fingerprint(job: dict, group: dict) -> str:
        """What makes a change destructive: tasks, networks, job meta (a restart token, a release)."""
        return json.dumps({"tasks": group.get("Tasks"), "networks": group.get("Networks"),
                           "meta": job.get("Meta"), "group_meta": group.get("Meta")}, sort_keys=True)

    def _reconcile(self, job: dict, now: float) -> None:
        job_id = job["ID"]
        live = self._live(job_id)
        for dep in self._job_deployments(job_id):
            if dep["Status"] == "running" and dep["JobVersion"] != job["Version"]:
                self._end_deployment(dep, "cancelled", "Cancelled due to newer version of job")
                for alloc in live:
                    if alloc["DeploymentID"] == dep["ID"] and (alloc["DeploymentStatus"] or {}).get("Canary"):
                        self._stop(alloc, now)
                live = self._live(job_id)
        for alloc in live:
            # Nomad cancels canaries that no running deployment owns (failed, cancelled ones).
            owner = self._deployments.get(alloc.get("DeploymentID") or "")
            if (alloc.get("DeploymentStatus") or {}).get("Canary") and (owner is None or owner["Status"] != "running"):
                self._stop(alloc, now)
        live = self._live(job_id)
        if job["Stop"]:
            for alloc in live:
                self._stop(alloc, now)
            job["Status"] = "dead"
            return
        if job["Type"] == "batch":
            if not job.get("ParameterizedJob") and not any(a["JobID"] == job_id for a in self._allocs.values()):
                for group in job["TaskGroups"]:
                    for _ in range(group["Count"]):
                        self._place(job, group, now)
            job["Status"] = "running"
            return
        job["Status"] = "running"
        if any(d["Status"] == "running" and d["JobVersion"] == job["Version"] for d in self._job_deployments(job_id)):
            # This version's deployment goes on (its canaries are placed; promotion places the
            # rest): an evaluation meanwhile (an allocation's health set) places nothing new.
            return
        groups = {g["Name"]: g for g in job["TaskGroups"]}
        for alloc in live:
            if alloc["TaskGroup"] not in groups:
                self._stop(alloc, now)
        states: dict[str, dict] = {}
        placed: dict[str, list[dict]] = {}
        for name, group in groups.items():
            mine = [a for a in live if a["TaskGroup"] == name]
            had_running = any(a["JobID"] == job_id and a["TaskGroup"] == name and a["JobVersion"] == job["Version"]
                              for a in self._allocs.values())
            update = group.get("Update") or {}
            count, canary = group["Count"], int(update.get("Canary") or 0)
            wanted = self._fingerprint(job, group)
            destructive = [a for a in mine if self._fingerprint(self._version_of(job_id, a["JobVersion"]),
                                                                 self._group_of(a)) != wanted]
            inplace = [a for a in mine if a not in destructive and a["JobVersion"] != job["Version"]]
            new: list[dict] = []
            canaries = 0
            if destructive and canary > 0:
                canaries = canary
                new = [self._place(job, group, now, canary=True) for _ in range(canary)]
            else:
                for alloc in destructive:  # no canaries: replaced at once (Nomad: max_parallel at a time)
                    self._stop(alloc, now)
                keep = [a for a in mine if a not in destructive]
                for alloc in inplace:
                    alloc["JobVersion"] = job["Version"]
                for alloc in sorted(keep, key=lambda a: -a["_index"])[:max(0, len(keep) - count)]:
                    self._stop(alloc, now)
                    inplace = [a for a in inplace if a is not alloc]
                new = [self._place(job, group, now) for _ in range(max(0, count - len(keep)))]
            updating = bool(destructive) or bool(inplace)
            if not self.first_version_deployment and not destructive:
                continue
            if count == 0 or not update or update.get("MaxParallel", 1) == 0 or (had_running and not updating):
                continue
            progress = update.get("ProgressDeadline", 0)
            states[name] = {
                "AutoRevert": bool(update.get("AutoRevert")), "AutoPromote": bool(update.get("AutoPromote")),
                "ProgressDeadline": progress, "Promoted": False, "PlacedCanaries": [a["ID"] for a in new if canaries],
                "DesiredCanaries": canaries, "DesiredTotal": count, "PlacedAllocs": len(new), "HealthyAllocs": 0,
                "UnhealthyAllocs": 0, "RequireProgressBy": None, "_progress_by": now + progress / SEC if progress else None,
            }
            placed[name] = new + ([] if canaries else inplace)
        job["Status"] = "running"
        if states:
            index = self._bump()
            dep = {"ID": str(uuid.uuid4()), "Namespace": "default", "JobID": job_id, "JobVersion": job["Version"],
                   "JobModifyIndex": job["JobModifyIndex"], "JobCreateIndex": job["CreateIndex"],
                   "IsMultiregion": False, "TaskGroups": states, "Status": "running",
                   "StatusDescription": "Deployment is running", "CreateIndex": index, "ModifyIndex": index,
                   "CreateTime": time.time_ns(), "ModifyTime": time.time_ns()}
            self._deployments[dep["ID"]] = dep
            for allocs in placed.values():
                for alloc in allocs:
                    alloc["DeploymentID"] = dep["ID"]
                    canary = bool((alloc.get("DeploymentStatus") or {}).get("Canary"))
                    alloc["DeploymentStatus"] = {"Healthy": None, "Canary": canary, "Timestamp": None,
                                                 "ModifyIndex": index}
                    alloc["_health_clock"] = now if alloc["ClientStatus"] == "running" else None
                    alloc["_passing_since"] = None
            if any(d["DesiredCanaries"] for d in states.values()):
                dep["StatusDescription"] = "Deployment is running but requires manual promotion"
            self._progress(dep, now)

    def _group_of(self, alloc: dict) -> dict:
        job = self._version_of(alloc["JobID"], alloc["JobVersion"])
        return next((g for g in job["TaskGroups"] if g["Name"] == alloc["TaskGroup"]), {})

    # ------------------------------------------------------------------ allocations
    def _place(self, job: dict, group: dict, now: float, canary: bool = False) -> dict:
        taken = {a["_index"] for a in self._live(job["ID"]) if a["TaskGroup"] == group["Name"]}
        position = next(i for i in range(len(taken) + 1) if i not in taken)
        index = self._bump()
        ports = []
        listener = None
        for network in group.get("Networks") or []:
            for port in network.get("DynamicPorts") or []:
                if listener is None:
                    # The simulated app of a web allocation listens on a real port (see _AppListener).
                    listener = _AppListener(self)
                    value = listener.port
                else:
                    self._next_port += 1
                    value = self._next_port
                ports.append({"Label": port["Label"], "Value": value, "To": port.get("To") or 0,
                              "HostIP": "127.0.0.1"})
            for port in network.get("ReservedPorts") or []:
                ports.append({"Label": port["Label"], "Value": port["Value"], "To": port.get("To") or 0,
                              "HostIP": "127.0.0.1"})
        alloc = {
            "ID": str(uuid.uuid4()), "EvalID": "", "Name": f"{job['ID']}.{group['Name']}[{position}]",
            "Namespace": "default", "NodeID": "double-node-1", "NodeName": "double-node-1", "JobID": job["ID"],
            "JobVersion": job["Version"], "TaskGroup": group["Name"], "DesiredStatus": "run",
            "DesiredDescription": "", "ClientStatus": "pending", "ClientDescription": "",
            "DeploymentID": "", "DeploymentStatus": {"Healthy": None, "Canary": canary, "Timestamp": None} if canary else None,
            "NextAllocation": "", "FollowupEvalID": "",
            "TaskStates": {t["Name"]: {"State": "pending", "Failed": False, "Restarts": 0, "StartedAt": None,
                                       "FinishedAt": None, "Events": [self._event("Received", "Task received by client")]}
                           for t in group["Tasks"]},
            "AllocatedResources": {"Shared": {"Ports": ports, "Networks": None}},
            "CreateIndex": index, "ModifyIndex": index, "CreateTime": time.time_ns(), "ModifyTime": time.time_ns(),
            "_index": position, "_created": now, "_check": None,
            "_logs": {t["Name"]: {"stdout": bytearray(), "stderr": bytearray()} for t in group["Tasks"]},
            "_health_clock": None, "_passing_since": None, "_finish_at": None, "_exit_code": None,
            "_exit": None, "_restart_at": None, "_kill_at": None,
        }
        if (job["ID"], job["Version"]) in self._policies:
            alloc["_check"] = self._policies[(job["ID"], job["Version"])]
        elif self.check_for is not None and group["Tasks"]:
            alloc["_check"] = self.check_for(_public(alloc), group["Tasks"][0])
        else:
            alloc["_check"] = self.checks_default
        self._allocs[alloc["ID"]] = alloc
        if listener is not None:
            listener.alloc_id, alloc["_port"] = alloc["ID"], listener.port
            self._listeners[alloc["ID"]] = listener
        if self.start_delay <= 0:
            self._start(alloc, now)
        return alloc

    @staticmethod
    def _event(kind: str, message: str, **extra: Any) -> dict:
        return {"Type": kind, "Time": time.time_ns(), "DisplayMessage": message, "Details": {}, **extra}

    def _start(self, alloc: dict, now: float) -> None:
        job = self._version_of(alloc["JobID"], alloc["JobVersion"])
        group = self._group_of(alloc)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        restarted = alloc.get("_started", False)
        alloc["_started"] = True
        alloc["ClientStatus"] = "running"
        alloc["_exit"] = None
        if not restarted:  # healthy_deadline counts from the allocation's start, not a restart's
            alloc["_health_clock"] = now
        for task in group["Tasks"]:
            state = alloc["TaskStates"][task["Name"]]
            state.update(State="running", StartedAt=stamp)
            if not restarted:
                state["Events"].append(self._event("Task Setup", "Building Task Directory"))
            state["Events"].append(self._event("Started", "Task started by client"))
            logs = alloc["_logs"][task["Name"]]
            if job["Type"] == "batch":
                env = {**(task.get("Env") or {}), **{f"NOMAD_META_{k}": v for k, v in (job.get("Meta") or {}).items()}}
                args = [self._interpolate(a, job) for a in (task.get("Config") or {}).get("args") or []]
                lines, code = self.run_handler(args[-1] if args else "", env)
                logs["stdout"] += "".join(f"{line}\n" for line in lines).encode()
                alloc["_finish_at"], alloc["_exit_code"] = now + self.run_duration, code
            else:
                logs["stdout"] += "".join(f"{line}\n" for line in self.task_output(_public(alloc), task)).encode()
                ending = self.task_exit(_public(alloc), task)
                if ending is not None:
                    logs["stderr"] += "".join(f"{line}\n" for line in ending.lines).encode()
                    alloc["_finish_at"], alloc["_exit"] = now + self.run_duration, ending
        if job["Type"] != "batch":
            self._sync_listener(alloc)

    @staticmethod
    def _interpolate(text: str, job: dict) -> str:
        meta = job.get("Meta") or {}
        return re.sub(r"\$\{NOMAD_META_([A-Za-z0-9_]+)\}",
                      lambda m: meta.get(m.group(1), meta.get(m.group(1).lower(), m.group(0))), text)

    def _finish(self, alloc: dict, code: int, now: float) -> None:
        self._unlisten(alloc["ID"])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        alloc["ClientStatus"] = "complete" if code == 0 else "failed"
        alloc["_finish_at"] = None
        for state in alloc["TaskStates"].values():
            state.update(State="dead", Failed=code != 0, FinishedAt=stamp)
            state["Events"].append(self._event("Terminated", f"Exit Code: {code}", ExitCode=code,
                                               Details={"exit_code": str(code)}))
        job = self._jobs.get(alloc["JobID"])
        if job and job["versions"][-1]["Type"] == "batch" and not self._live(alloc["JobID"]):
            job["versions"][-1]["Status"] = "dead"

    def _stop(self, alloc: dict, now: float) -> None:
        """Told to stop: Nomad deregisters its services, waits the group's shutdown_delay, then
        kills the task; meanwhile the allocation is still running (DesiredStatus stop)."""
        if alloc["DesiredStatus"] == "stop":
            return
        alloc["DesiredStatus"] = "stop"
        alloc["ModifyIndex"] = self._index
        alloc["_restart_at"] = None
        if alloc["ClientStatus"] not in LIVE:
            return
        delay = (self._group_of(alloc).get("ShutdownDelay") or 0) / SEC
        if delay > 0 and alloc["ClientStatus"] == "running":
            alloc["_kill_at"] = now + delay
            for state in alloc["TaskStates"].values():
                state["Events"].append(self._event("Waiting for shutdown delay", f"Waiting for shutdown_delay of "
                                                   f"{delay:g}s before killing the task"))
        else:
            self._kill(alloc)

    def _kill(self, alloc: dict) -> None:
        alloc["_kill_at"] = None
        self._unlisten(alloc["ID"])
        if alloc["ClientStatus"] not in LIVE:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        alloc["ClientStatus"] = "complete"
        for state in alloc["TaskStates"].values():
            state.update(State="dead", FinishedAt=stamp)
            state["Events"] += [self._event("Killing", "Sent interrupt"),
                                self._event("Killed", "Task successfully killed")]

    def _exit(self, alloc: dict, ending: TaskExit, now: float) -> None:
        """A service task's process ended: Terminated (the docker driver's fields), then the
        group's restart policy: Restarting (Restarts + 1, pending until the delay passes) while
        attempts remain, else Not Restarting and the allocation failed."""
        self._unlisten(alloc["ID"])
        alloc["_finish_at"], alloc["_exit"] = None, None
        policy = self._group_of(alloc).get("RestartPolicy") or RESTART_DEFAULTS["service"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message = "OOM Killed" if ending.oom_killed else (
            f"Docker container exited with non-zero exit code: {ending.code}" if ending.code else "")
        details = {"exit_code": str(ending.code), "signal": str(ending.signal),
                   "oom_killed": str(ending.oom_killed).lower()}
        if message:
            details["exit_message"] = message
        for state in alloc["TaskStates"].values():
            state["Events"].append(self._event("Terminated", f"Exit Code: {ending.code}"
                                               + (f", Exit Message: {message!r}" if message else ""),
                                               ExitCode=ending.code, Signal=ending.signal, Details=details))
            if state["Restarts"] < int(policy.get("Attempts") or 0):
                delay = (policy.get("Delay") or 0) / SEC
                state["Restarts"] += 1
                state["State"] = "pending"
                state["Events"].append(self._event("Restarting", f"Task restarting in {delay:g}s",
                                                   Details={"restart_reason": "Restart within policy",
                                                            "start_delay": str(int(delay * SEC))}))
                alloc["ClientStatus"] = "pending"
                alloc["_restart_at"] = now + delay
                alloc["_passing_since"] = None
            else:
                state.update(State="dead", Failed=True, FinishedAt=stamp)
                state["Events"].append(self._event(
                    "Not Restarting", f"Exceeded allowed attempts {policy.get('Attempts')} in interval and mode is "
                                      f"\"{policy.get('Mode')}\""))
                alloc["ClientStatus"] = "failed"
                if (alloc.get("DeploymentStatus") or {}).get("Healthy") is None and alloc.get("DeploymentID"):
                    self._set_health(alloc, False, now)

    def _sync_listener(self, alloc: dict) -> None:
        """The simulated app listens while its task runs and its check has a result; a failing
        TCP check means nothing accepts connections (a failing HTTP check answers 500)."""
        checks = [c for s in self._group_of(alloc).get("Services") or [] for c in s.get("Checks") or []]
        tcp = bool(checks) and checks[0].get("Type") == "tcp"
        status = alloc["_check"]
        if alloc["ClientStatus"] == "running" and alloc["_exit"] is None \
                and (status == "passing" or (status == "critical" and not tcp)):
            self._listen(alloc)
        else:
            self._unlisten(alloc["ID"])

    def _listen(self, alloc: dict) -> None:
        listener = self._listeners.get(alloc["ID"])
        if listener is None and alloc.get("_port"):
            listener = self._listeners[alloc["ID"]] = _AppListener(self, alloc["_port"])
            listener.alloc_id = alloc["ID"]
        if listener is not None:
            alloc["_port"] = listener.port
            listener.activate()

    def _unlisten(self, alloc_id: str) -> None:
        listener = self._listeners.pop(alloc_id, None)
        if listener is not None:
            listener.close()

    # ------------------------------------------------------------------ health and deployments
    def _judge(self, alloc: dict, now: float) -> bool:
        dep = self._deployments.get(alloc.get("DeploymentID") or "")
        status = alloc.get("DeploymentStatus") or {}
        if not dep or dep["Status"] != "running" or status.get("Healthy") is not None \
                or alloc["ClientStatus"] != "running" or alloc["DesiredStatus"] != "run":
            return False
        update = self._group_of(alloc).get("Update") or DEFAULT_UPDATE
        clock = alloc["_health_clock"] if alloc["_health_clock"] is not None else now
        alloc["_health_clock"] = clock
        kind = update.get("HealthCheck", "checks")
        ok = kind == "task_states" or (kind == "checks" and alloc["_check"] == "passing")
        if ok:
            alloc["_passing_since"] = alloc["_passing_since"] if alloc["_passing_since"] is not None else now
            if now - alloc["_passing_since"] >= update["MinHealthyTime"] / SEC:
                self._set_health(alloc, True, now)
                return True
        else:
            alloc["_passing_since"] = None
        if now - clock >= update["HealthyDeadline"] / SEC:
            self._set_health(alloc, False, now)
            return True
        return False

    def _set_health(self, alloc: dict, healthy: bool, now: float) -> None:
        dep = self._deployments.get(alloc.get("DeploymentID") or "")
        status = alloc.get("DeploymentStatus") or {}
        if status.get("Healthy") is not None or dep is None:
            return
        alloc["DeploymentStatus"] = {**status, "Healthy": healthy, "Timestamp": time.time_ns()}
        state = dep["TaskGroups"].get(alloc["TaskGroup"])
        if state is None or dep["Status"] != "running":
            return
        dep["ModifyIndex"], dep["ModifyTime"] = self._index, time.time_ns()
        if healthy:
            state["HealthyAllocs"] += 1
            if state["ProgressDeadline"]:
                state["_progress_by"] = now + state["ProgressDeadline"] / SEC
        else:
            state["UnhealthyAllocs"] += 1
            if not state["ProgressDeadline"]:
                self._fail(dep, "Failed due to unhealthy allocations", now)

    def _progress(self, dep: dict, now: float) -> bool:
        """Auto-promotion, the progress deadline, completion."""
        if dep["Status"] != "running":
            return False
        states = dep["TaskGroups"]
        if any(s["AutoPromote"] and s["DesiredCanaries"] and not s["Promoted"] for s in states.values()):
            try:
                self._promote(dep, now)
                return True
            except DoubleError:
                pass
        for state in states.values():
            if state["_progress_by"] is not None and now > state["_progress_by"]:
                self._fail(dep, "Failed due to progress deadline", now)
                return True
        if all((not s["DesiredCanaries"] or s["Promoted"]) and s["HealthyAllocs"] >= max(s["DesiredTotal"],
                                                                                          s["DesiredCanaries"])
               for s in states.values()):
            self._end_deployment(dep, "successful", "Deployment completed successfully")
            self._version_of(dep["JobID"], dep["JobVersion"])["Stable"] = True
            return True
        return False

    def _end_deployment(self, dep: dict, status: str, description: str) -> None:
        dep.update(Status=status, StatusDescription=description, ModifyIndex=self._bump(), ModifyTime=time.time_ns())

    def _promote(self, dep: dict, now: float) -> None:
        if dep["Status"] != "running":
            raise DoubleError(500, f"can't promote terminal deployment with status {dep['Status']!r}")
        canary_groups = {g: s for g, s in dep["TaskGroups"].items() if s["DesiredCanaries"] > 0}
        if not canary_groups:
            raise DoubleError(400, "no canaries to promote")
        for name, state in canary_groups.items():
            healthy = sum(1 for a in state["PlacedCanaries"]
                          if (self._allocs[a].get("DeploymentStatus") or {}).get("Healthy") is True
                          and self._allocs[a]["DesiredStatus"] == "run")
            if healthy < state["DesiredCanaries"]:
                raise DoubleError(500, f'Task group "{name}" has {healthy}/{state["DesiredCanaries"]} healthy allocations')
        job = self._version_of(dep["JobID"], dep["JobVersion"])
        for name, state in canary_groups.items():
            state["Promoted"] = True
            for alloc_id in state["PlacedCanaries"]:
                self._allocs[alloc_id]["DeploymentStatus"]["Canary"] = False
            for alloc in self._live(dep["JobID"]):
                if alloc["TaskGroup"] == name and alloc["DeploymentID"] != dep["ID"]:
                    self._stop(alloc, now)
            group = next(g for g in job["TaskGroups"] if g["Name"] == name)
            running = [a for a in self._live(dep["JobID"]) if a["TaskGroup"] == name]
            for _ in range(max(0, group["Count"] - len(running))):
                alloc = self._place(job, group, now)
                alloc["DeploymentID"] = dep["ID"]
                alloc["DeploymentStatus"] = {"Healthy": None, "Canary": False, "Timestamp": None}
                state["PlacedAllocs"] += 1
        dep["StatusDescription"] = "Deployment is running"
        dep["ModifyIndex"] = self._bump()
        self._progress(dep, now)

    def _fail(self, dep: dict, description: str, now: float) -> dict:
        """Fail the deployment; with auto_revert register the last stable version again. The
        evaluation that follows stops the failed deployment's canaries."""
        if dep["Status"] != "running":
            raise DoubleError(500, f"can't fail terminal deployment with status {dep['Status']!r}")
        self._end_deployment(dep, "failed", description)
        record = self._jobs[dep["JobID"]]
        stable = [j for j in record["versions"] if j["Stable"] and j["Version"] < dep["JobVersion"]]
        if not any(s["AutoRevert"] for s in dep["TaskGroups"].values()):
            return self._new_eval(dep["JobID"], "deployment-watcher", now)
        if not stable:
            dep["StatusDescription"] = f"{description} - no stable job version to auto revert to"
            return self._new_eval(dep["JobID"], "deployment-watcher", now)
        target = stable[-1]
        dep["StatusDescription"] = f"{description} - rolling back to job version {target['Version']}"
        current = record["versions"][-1]
        revert = copy.deepcopy(target)
        index = self._bump()
        revert.update(Version=current["Version"] + 1, Stable=False, SubmitTime=time.time_ns(), ModifyIndex=index,
                      JobModifyIndex=index, Status="pending")
        record["versions"].append(revert)
        if target["Version"] in record["submissions"]:
            record["submissions"][revert["Version"]] = record["submissions"][target["Version"]]
        return self._new_eval(dep["JobID"], "deployment-watcher", now)

    def _alloc_health(self, dep_id: str, body: dict, now: float) -> dict:
        """POST /v1/deployment/allocation-health/:id (Nomad's state store rules): the deployment
        must be active and each allocation part of it; healthy ones count as healthy (an earlier
        unhealthy mark is undone), an unhealthy one fails the deployment (and may revert)."""
        dep = self._deployments.get(dep_id)
        if dep is None:
            raise DoubleError(500, "deployment not found")
        healthy, unhealthy = body.get("HealthyAllocationIDs") or [], body.get("UnhealthyAllocationIDs") or []
        if not healthy and not unhealthy:
            raise DoubleError(500, "must specify at least one healthy/unhealthy allocation ID")
        if dep["Status"] != "running":
            raise DoubleError(500, "can't set health of allocations for a terminal deployment")
        for alloc_id in [*healthy, *unhealthy]:
            alloc = self._allocs.get(alloc_id)
            if alloc is None:
                raise DoubleError(500, f"unknown alloc {alloc_id!r}")
            if alloc.get("DeploymentID") != dep_id:
                raise DoubleError(500, f"alloc {alloc_id!r} is not part of deployment {dep_id!r}")
        for alloc_id, value in [*((a, True) for a in healthy), *((a, False) for a in unhealthy)]:
            alloc = self._allocs[alloc_id]
            before = (alloc.get("DeploymentStatus") or {}).get("Healthy")
            state = dep["TaskGroups"].get(alloc["TaskGroup"])
            if state is not None and before is not None and before != value:
                state["UnhealthyAllocs" if before is False else "HealthyAllocs"] -= 1
            if state is not None and before != value:
                state["HealthyAllocs" if value else "UnhealthyAllocs"] += 1
            alloc["DeploymentStatus"] = {**(alloc.get("DeploymentStatus") or {}), "Healthy": value,
                                         "Timestamp": time.time_ns(), "ModifyIndex": self._index}
        if unhealthy:
            ev = self._fail(dep, "Failed due to unhealthy allocations", now)
        else:
            dep["ModifyIndex"] = self._bump()
            ev = self._new_eval(dep["JobID"], "deployment-watcher", now)
            self._progress(dep, now)
        return {"EvalID": ev["ID"], "EvalCreateIndex": ev["CreateIndex"], "DeploymentModifyIndex": self._index,
                "Index": self._index}

    def _revert(self, job_id: str, body: dict, now: float) -> dict:
        """POST /v1/job/:id/revert: register a tracked version's spec again as a new version."""
        record = self._record(job_id)
        current = record["versions"][-1]
        wanted = body.get("JobVersion")
        prior = body.get("EnforcePriorVersion")
        if prior is not None and int(prior) != current["Version"]:
            raise DoubleError(500, f"Current job has version {current['Version']}; enforcing version {prior}")
        if wanted is None or int(wanted) == current["Version"]:
            raise DoubleError(500, "can't revert to current version")
        tracked = list(reversed(record["versions"]))[: self.tracked_versions]
        target = next((j for j in tracked if j["Version"] == int(wanted)), None)
        if target is None:
            raise DoubleError(500, f"job {job_id!r} in namespace \"default\" at version {wanted} not found")
        revert = {k: v for k, v in copy.deepcopy(target).items() if k not in SERVER_FIELDS}
        answer = self._register(revert, False, 0, record["submissions"].get(target["Version"]), now)
        return {"EvalID": answer["EvalID"], "EvalCreateIndex": answer["EvalCreateIndex"],
                "JobModifyIndex": answer["JobModifyIndex"], "Index": self._index}

    def _mark_stable_without_deployments(self) -> bool:
        changed = False
        for job_id, record in self._jobs.items():
            job = record["versions"][-1]
            if job["Stable"] or job["Type"] != "service" or any(
                    d["Status"] == "running" for d in self._job_deployments(job_id)):
                continue
            live = [a for a in self._live(job_id) if a["JobVersion"] == job["Version"]]
            if len([a for a in live if a["ClientStatus"] == "running"]) == sum(g["Count"] for g in job["TaskGroups"]):
                job["Stable"] = changed = True
        return changed

    def _deployment_json(self, dep: dict) -> dict:
        out = _public(dep)
        out["TaskGroups"] = {name: _public(state) for name, state in dep["TaskGroups"].items()}
        return out

    # ------------------------------------------------------------------ HTTP operations
    def authorize(self, token: str | None, capability: str) -> None:
        if not self.acl:
            return
        if not token:
            raise DoubleError(403, "Permission denied")
        granted = self._tokens.get(token)
        if granted is None:
            raise DoubleError(403, "ACL token not found")
        if capability not in granted and not (capability == "parse-job" and "submit-job" in granted):
            raise DoubleError(403, "Permission denied")

    def block(self, query: dict[str, str]) -> None:
        index = int(query.get("index") or 0)
        if index <= 0:
            return
        wait = min(parse_duration(query.get("wait") or "5m") / SEC, 600.0)
        with self._cond:
            self._cond.wait_for(lambda: self._index > index or self._stopping, timeout=wait)

    def handle(self, method: str, path: str, query: dict[str, str], body: Any, token: str | None) -> Any:
        """One API call: the JSON answer, or a DoubleError."""
        now = time.monotonic()
        if path == "/v1/jobs/parse" and method == "POST":
            self.authorize(token, "parse-job")
            job = hcl_to_job((body or {}).get("JobHCL") or "")
            return canonicalize(job) if (body or {}).get("Canonicalize") else job
        if path == "/v1/jobs" and method == "POST":
            self.authorize(token, "submit-job")
            if not isinstance(body, dict) or not isinstance(body.get("Job"), dict):
                raise DoubleError(400, "Job must be specified")
            with self._cond:
                return self._register(body["Job"], bool(body.get("EnforceIndex")), int(body.get("JobModifyIndex") or 0),
                                      body.get("Submission"), now)
        if path == "/v1/jobs" and method == "GET":
            self.authorize(token, "read-job")
            prefix = query.get("prefix", "")
            with self._cond:
                meta = query.get("meta", "").lower() in ("true", "1")
                return [{"ID": j, "Name": j, "Type": r["versions"][-1]["Type"], "Status": r["versions"][-1]["Status"],
                         "ParentID": r["versions"][-1].get("ParentID", ""), "Stop": r["versions"][-1]["Stop"],
                         "JobModifyIndex": r["versions"][-1]["JobModifyIndex"],
                         **({"Meta": r["versions"][-1].get("Meta")} if meta else {})}
                        for j, r in sorted(self._jobs.items()) if j.startswith(prefix)]
        if path.startswith("/v1/job/"):
            return self._job_endpoint(method, unquote(path[len("/v1/job/"):]), query, body, token, now)
        match = re.fullmatch(r"/v1/deployment/(promote|fail)/([^/]+)", path)
        if match and method == "POST":
            self.authorize(token, "submit-job")
            with self._cond:
                dep = self._deployments.get(match.group(2))
                if dep is None:
                    raise DoubleError(404, "deployment not found")
                if match.group(1) == "promote":
                    if not (body or {}).get("All") and not (body or {}).get("Groups"):
                        raise DoubleError(400, "must promote all or a set of groups")
                    self._promote(dep, now)
                    ev = self._new_eval(dep["JobID"], "deployment-watcher", now)
                else:
                    ev = self._fail(dep, "Deployment marked as failed", now)
                return {"EvalID": ev["ID"], "EvalCreateIndex": ev["CreateIndex"], "DeploymentModifyIndex": self._index,
                        "Index": self._index}
        match = re.fullmatch(r"/v1/deployment/allocation-health/([^/]+)", path)
        if match and method == "POST":
            self.authorize(token, "submit-job")
            with self._cond:
                return self._alloc_health(match.group(1), body or {}, now)
        match = re.fullmatch(r"/v1/deployment/([^/]+)", path)
        if match and method == "GET":
            self.authorize(token, "read-job")
            with self._cond:
                dep = self._deployments.get(match.group(1))
                if dep is None:
                    raise DoubleError(404, "deployment not found")
                return self._deployment_json(dep)
        match = re.fullmatch(r"/v1/evaluation/([^/]+)", path)
        if match and method == "GET":
            self.authorize(token, "read-job")
            with self._cond:
                ev = self._evals.get(match.group(1))
                if ev is None:
                    raise DoubleError(404, "eval not found")
                return _public(ev)
        match = re.fullmatch(r"/v1/allocation/([^/]+)", path)
        if match and method == "GET":
            self.authorize(token, "read-job")
            with self._cond:
                alloc = self._allocs.get(match.group(1))
                if alloc is None:
                    raise DoubleError(404, "alloc not found")
                return {**_public(alloc), "Job": self._version_of(alloc["JobID"], alloc["JobVersion"])}
        raise DoubleError(404, f"Invalid URL or not implemented by NomadApiDouble: {method} {path}")

    def _job_endpoint(self, method: str, rest: str, query: dict, body: Any, token: str | None, now: float) -> Any:
        for suffix in ("/allocations", "/deployments", "/deployment", "/versions", "/dispatch", "/revert"):
            if rest.endswith(suffix):
                job_id, action = rest[: -len(suffix)], suffix[1:]
                break
        else:
            job_id, action = rest, ""
        if action == "revert" and method == "POST":
            self.authorize(token, "submit-job")
            with self._cond:
                return self._revert(job_id, body or {}, now)
        if action == "dispatch" and method == "POST":
            self.authorize(token, "dispatch-job")
            with self._cond:
                return self._dispatch(job_id, body or {}, query.get("idempotency_token") or "", now)
        if method == "DELETE" and not action:
            self.authorize(token, "submit-job")
            with self._cond:
                return self._deregister(job_id, query.get("purge", "").lower() in ("true", "1"), now)
        if method != "GET":
            raise DoubleError(405, "Invalid method")
        self.authorize(token, "read-job")
        with self._cond:
            if action == "allocations":
                allocs = [a for a in self._allocs.values() if a["JobID"] == job_id]
                return [self._stub(a, query.get("resources") in ("true", "True", "1"))
                        for a in sorted(allocs, key=lambda a: a["CreateIndex"], reverse=True)]
            record = self._record(job_id)
            if action == "versions":
                tracked = list(reversed(record["versions"]))[: self.tracked_versions]
                return {"Versions": copy.deepcopy(tracked), "Diffs": None}
            if action == "deployments":
                return [self._deployment_json(d) for d in self._job_deployments(job_id)]
            if action == "deployment":
                found = self._job_deployments(job_id)
                return self._deployment_json(found[0]) if found else None
            return copy.deepcopy(record["versions"][-1])

    def _stub(self, alloc: dict, resources: bool) -> dict:
        keys = ["ID", "EvalID", "Name", "Namespace", "NodeID", "NodeName", "JobID", "JobVersion", "TaskGroup",
                "DesiredStatus", "DesiredDescription", "ClientStatus", "ClientDescription", "DeploymentStatus",
                "TaskStates", "NextAllocation", "FollowupEvalID", "CreateIndex", "ModifyIndex", "CreateTime",
                "ModifyTime"]
        stub = {k: copy.deepcopy(alloc[k]) for k in keys}
        stub["JobType"] = self._version_of(alloc["JobID"], alloc["JobVersion"])["Type"]
        if resources:
            stub["AllocatedResources"] = copy.deepcopy(alloc["AllocatedResources"])
        return stub

    def _deregister(self, job_id: str, purge: bool, now: float) -> dict:
        record = self._record(job_id)
        for alloc in self._live(job_id):
            self._stop(alloc, now)
        for dep in self._job_deployments(job_id):
            if dep["Status"] == "running":
                self._end_deployment(dep, "cancelled", "Cancelled because job is stopped")
        if purge:
            del self._jobs[job_id]
            for alloc_id in [a for a, v in self._allocs.items() if v["JobID"] == job_id]:
                self._unlisten(alloc_id)
                del self._allocs[alloc_id]
            for dep_id in [d for d, v in self._deployments.items() if v["JobID"] == job_id]:
                del self._deployments[dep_id]
            index = self._bump()
            return {"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": index, "Index": index}
        current = record["versions"][-1]
        stopped = copy.deepcopy(current)
        index = self._bump()
        stopped.update(Version=current["Version"] + 1, Stop=True, Stable=False, ModifyIndex=index,
                       JobModifyIndex=index, Status="dead", SubmitTime=time.time_ns())
        record["versions"].append(stopped)
        ev = self._new_eval(job_id, "job-deregister", now)
        return {"EvalID": ev["ID"], "EvalCreateIndex": ev["CreateIndex"], "JobModifyIndex": index, "Index": index}

    def _dispatch(self, job_id: str, body: dict, token: str, now: float) -> dict:
        record = self._record(job_id)
        parent = record["versions"][-1]
        spec = parent.get("ParameterizedJob")
        if not spec:
            raise DoubleError(400, f'Specified job "{job_id}" is not a parameterized job')
        if parent["Stop"]:
            raise DoubleError(400, f'Specified job "{job_id}" is stopped')
        meta = body.get("Meta") or {}
        missing = [k for k in spec.get("MetaRequired") or [] if k not in meta]
        if missing:
            raise DoubleError(400, f"Dispatch did not provide required meta keys: {missing}")
        allowed = set(spec.get("MetaRequired") or []) | set(spec.get("MetaOptional") or [])
        extra = sorted(set(meta) - allowed)
        if extra:
            raise DoubleError(400, f"Dispatch includes unpermitted metadata keys: {extra}")
        if body.get("Payload") and spec.get("Payload") == "forbidden":
            raise DoubleError(400, "Payload is not allowed")
        if token and token in record["tokens"]:
            child_id = record["tokens"][token]
            child = self._jobs[child_id]["versions"][-1]
            return {"DispatchedJobID": child_id, "EvalID": "", "EvalCreateIndex": 0,
                    "JobCreateIndex": child["CreateIndex"], "Index": self._index}
        child_id = f"{job_id}/dispatch-{int(time.time())}-{uuid.uuid4().hex[:8]}"
        child = copy.deepcopy(parent)
        child.update(ID=child_id, Name=child_id, ParentID=job_id, Dispatched=True, ParameterizedJob=None,
                     Meta={**(parent.get("Meta") or {}), **meta})
        for key in SERVER_FIELDS:
            child.pop(key, None)
        answer = self._register(child, False, 0, None, now)
        if token:
            record["tokens"][token] = child_id
        return {"DispatchedJobID": child_id, "EvalID": answer["EvalID"], "EvalCreateIndex": answer["EvalCreateIndex"],
                "JobCreateIndex": self._jobs[child_id]["create"], "Index": self._index}

    def logs(self, alloc_id: str, query: dict[str, str], token: str | None) -> Iterator[bytes]:
        """GET /v1/client/fs/logs/:alloc as chunks; raises DoubleError before the first one."""
        self.authorize(token, "read-logs")
        if query.get("plain", "").lower() not in ("true", "1"):
            raise DoubleError(400, "NomadApiDouble serves plain=true logs only")
        task, stream = query.get("task"), query.get("type")
        if not task:
            raise DoubleError(400, "must include task name")
        if stream not in ("stdout", "stderr"):
            raise DoubleError(400, "must include type: stdout or stderr")
        with self._cond:
            alloc = self._allocs.get(alloc_id)
            if alloc is None:
                raise DoubleError(404, "Unknown allocation")
            if task not in alloc["_logs"]:
                raise DoubleError(400, f"unknown task name {task!r}")
            if not alloc["TaskStates"][task]["StartedAt"]:  # Nomad: StartedAt.IsZero(), not the state
                raise DoubleError(404, f"task {task!r} not started yet. No logs available")
            data = alloc["_logs"][task][stream]
            offset = int(query.get("offset") or 0)
            position = max(0, len(data) - offset) if query.get("origin") == "end" else min(offset, len(data))
        follow = query.get("follow", "").lower() in ("true", "1")
        return self._log_chunks(alloc, task, stream, position, follow)

    def _log_chunks(self, alloc: dict, task: str, stream: str, position: int, follow: bool) -> Iterator[bytes]:
        while True:
            with self._cond:
                data = alloc["_logs"][task][stream]
                chunk = bytes(data[position:])
                dead = alloc["TaskStates"][task]["State"] == "dead" or alloc["DesiredStatus"] == "stop"
                if not chunk and follow and not dead and not self._stopping:
                    self._cond.wait(timeout=0.5)
                    continue
            if chunk:
                position += len(chunk)
                yield chunk
                continue
            return


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # unreachable() reopens the same port
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stalls
    double: NomadApiDouble

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- the stdlib's signature
        pass

    def setup(self) -> None:
        super().setup()
        self.double._connections.add(self.connection)

    def finish(self) -> None:
        self.double._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        double = self.double
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        token = self.headers.get("X-Nomad-Token")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, b"invalid JSON body", "text/plain")
            return
        double.requests.append({"method": method, "path": url.path, "query": query, "body": body})
        fault = double._fault(method, url.path)
        if fault and fault.get("action"):
            fault["action"]()
        if fault and fault.get("drop") == "before":
            self._hang_up()
            return
        try:
            if url.path.startswith("/v1/client/fs/logs/") and method == "GET":
                chunks = double.logs(unquote(url.path.rsplit("/", 1)[1]), query, token)
                self._stream(chunks)
                return
            if method == "GET":
                double.block(query)
            answer = double.handle(method, url.path, query, body, token)
        except DoubleError as exc:
            self._send(exc.status, exc.text.encode(), "text/plain; charset=utf-8")
            return
        if fault and fault.get("drop") == "after":
            self._hang_up()
            return
        self._send(200, json.dumps(answer).encode(), "application/json")

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Nomad-Index", str(self.double._index))
        self.send_header("X-Nomad-KnownLeader", "true")
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, chunks: Iterator[bytes]) -> None:
        """Chunked transfer encoding, one HTTP chunk per write, as Nomad's streaming endpoints."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Nomad-Index", str(self.double._index))
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 -- http.server's names
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


class _AppListener:
    """The simulated app of a web allocation: a real HTTP server on the allocation's port that
    answers every GET by the allocation's check status ("passing": 200, "critical": 500
    "unhealthy"); bound from placement but listening only while the task runs with a check
    status set, so that before (and after) connections are refused, as with a real app."""

    def __init__(self, double: NomadApiDouble, port: int = 0):
        self.double, self.alloc_id, self.active = double, "", False
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- the stdlib's signature
                pass

            def do_GET(self) -> None:  # noqa: N802 -- http.server's names
                alloc = listener.double._allocs.get(listener.alloc_id) or {}
                status, body = (200, b"ok\n") if alloc.get("_check") == "passing" else (500, b"unhealthy\n")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _Server(("127.0.0.1", port), Handler, bind_and_activate=False)
        self.server.server_bind()
        self.port = self.server.server_address[1]

    def activate(self) -> None:
        if not self.active:
            self.active = True
            self.server.server_activate()
            threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        """Stop listening now (the port can be bound again at once: a restarted task's)."""
        if self.active:
            self.active = False
            self.server.shutdown()  # its handlers never take the double's lock: no deadlock
        self.server.server_close()


def main() -> None:  # pragma: no cover - a manual tool
    """Run the double in the foreground, e.g. for a controller started with PAAS_SCHEDULER=nomad."""
    parser = argparse.ArgumentParser(description="NomadApiDouble: a test double of the Nomad HTTP API (not Nomad)")
    parser.add_argument("--port", type=int, default=4646)
    parser.add_argument("--checks", choices=["passing", "critical", "none"], default="passing",
                        help="what every Consul check returns (default passing)")
    args = parser.parse_args()
    double = NomadApiDouble(checks=None if args.checks == "none" else args.checks)
    double._port = args.port
    double.start()
    print(f"NomadApiDouble listening on {double.address} (NOMAD_ADDR={double.address})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
