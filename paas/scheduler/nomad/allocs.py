"""Nomad allocations read as the port's terms, as pure functions: which deployment of the platform
an allocation belongs to (its job version's Meta `paas_deployment`), its state, its last exit
(TaskStates events: Terminated carries the exit code, the signal and Details["oom_killed"]; a
Restarting event counts in Restarts), and its address.

Nomad's task lifecycle, as its task runner emits it: Received, Task Setup, Driver, Started; when
the process ends Terminated (ExitCode, Signal, Details exit_code/signal/oom_killed/exit_message),
then Restarting (the task is pending again, Restarts + 1) or Not Restarting (the task is dead, the
allocation failed). A task that cannot start at all (an image that cannot be pulled) gets a
Driver Failure event instead of Started."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .jobspec import DEPLOYMENT_META, RELEASE_META

LIVE = {"pending", "running"}  # ClientStatus of an allocation that still exists
TERMINAL = {"complete", "failed", "lost"}
STARTED = "Started"
ENDED = {"Terminated", "Restarting", "Not Restarting", "Driver Failure", "Setup Failure", "Failed Validation",
         "Failed Artifact Download", "Killed"}
# Events whose message explains why a task never ran or stopped (shown with its last lines).
FAILURES = {"Driver Failure", "Setup Failure", "Failed Validation", "Failed Artifact Download", "Not Restarting"}
# A task that restarted and has run for less than this is crash-looping: never "passing".
STABLE_AFTER = 30.0


@dataclass(frozen=True)
class Label:
    """What a job version says about the allocations that run it."""

    deployment: str
    release: int


@dataclass(frozen=True)
class Exit:
    code: int | None
    signal: int = 0
    oom_killed: bool = False
    message: str = ""


def label_of(job: dict) -> Label:
    meta = job.get("Meta") or {}
    try:
        release = int(meta.get(RELEASE_META) or 0)
    except (TypeError, ValueError):
        release = 0
    return Label(deployment=str(meta.get(DEPLOYMENT_META) or ""), release=release)


def labels(versions: list[dict]) -> dict[int, Label]:
    """job version -> its label, for the versions Nomad still tracks."""
    return {int(job.get("Version") or 0): label_of(job) for job in versions}


def exists(alloc: dict) -> bool:
    """Still there: placed or running, even when told to stop (draining, being killed)."""
    return alloc.get("ClientStatus") in LIVE


def wanted(alloc: dict) -> bool:
    """Meant to run: not told to stop (DesiredStatus run) and not ended."""
    return alloc.get("DesiredStatus") == "run" and alloc.get("ClientStatus") in LIVE


def task_state(alloc: dict) -> dict:
    """The state of the allocation's task (one task per group, named after it)."""
    states = alloc.get("TaskStates") or {}
    return states.get(alloc.get("TaskGroup")) or next(iter(states.values()), None) or {}


def events(alloc: dict) -> list[dict]:
    return task_state(alloc).get("Events") or []


def last_exit(alloc: dict) -> Exit | None:
    """The last time the task's process ended (the newest Terminated event)."""
    for event in reversed(events(alloc)):
        if event.get("Type") != "Terminated":
            continue
        details = event.get("Details") or {}
        code = details.get("exit_code", event.get("ExitCode"))
        signal = details.get("signal", event.get("Signal") or 0)
        return Exit(code=_int(code), signal=_int(signal) or 0,
                    oom_killed=str(details.get("oom_killed", "")).lower() == "true",
                    message=str(details.get("exit_message") or ""))
    return None


def ended_since_start(alloc: dict) -> bool:
    """The process ended (or never started) after its last start: exited, restarting or failing."""
    for event in reversed(events(alloc)):
        kind = event.get("Type")
        if kind == STARTED:
            return False
        if kind in ENDED:
            return True
    return False


def restarts(alloc: dict) -> int:
    return int(task_state(alloc).get("Restarts") or 0)


def failure_messages(alloc: dict) -> list[str]:
    """Nomad's own words for why the task did not (keep) run(ning), oldest first."""
    out = []
    for event in events(alloc):
        if event.get("Type") in FAILURES:
            message = event.get("DisplayMessage") or (event.get("Details") or {}).get("driver_error") or ""
            out.append(f"nomad: {event['Type']}: {message}".rstrip(": "))
    return out


def report_state(alloc: dict) -> str:
    """starting, running, exited or dead (InstanceReport.state)."""
    task = task_state(alloc)
    if alloc.get("ClientStatus") in TERMINAL or task.get("State") == "dead":
        return "exited" if last_exit(alloc) or failure_messages(alloc) else "dead"
    if ended_since_start(alloc):
        return "exited"
    if alloc.get("ClientStatus") == "running" and task.get("State") == "running":
        return "running"
    return "starting"


def instance_state(alloc: dict) -> str:
    """running, starting, exited, restarting or crashed (Instance.state, what `ps` shows)."""
    status = alloc.get("ClientStatus")
    if status in ("failed", "lost"):
        return "crashed"
    if status == "complete":
        return "exited"
    if ended_since_start(alloc):
        return "restarting" if restarts(alloc) or any(e.get("Type") == "Restarting" for e in events(alloc)) \
            else "crashed"
    if status == "running" and task_state(alloc).get("State") == "running":
        return "running"
    return "starting"


def crash_looping(alloc: dict, now_ns: int | None = None) -> bool:
    """Restarted, and running for less than STABLE_AFTER since its last start."""
    if not restarts(alloc):
        return False
    now_ns = time.time_ns() if now_ns is None else now_ns
    started = [e.get("Time") or 0 for e in events(alloc) if e.get("Type") == STARTED]
    return not started or now_ns - int(started[-1]) < STABLE_AFTER * 1e9


def started_at(alloc: dict) -> str | None:
    started = task_state(alloc).get("StartedAt")
    return str(started) if started and not str(started).startswith("0001") else None


def address(alloc: dict) -> str | None:
    """host:port of the web port, from the allocation's shared ports (or the older networks)."""
    resources = alloc.get("AllocatedResources") or {}
    shared = resources.get("Shared") or {}
    for port in shared.get("Ports") or []:
        if port.get("Label") == "http" and port.get("Value"):
            return f"{port.get('HostIP') or '127.0.0.1'}:{port['Value']}"
    for network in shared.get("Networks") or []:
        for port in network.get("DynamicPorts") or []:
            if port.get("Label") == "http":
                return f"{network.get('IP')}:{port.get('Value')}"
    return None


def canary(alloc: dict) -> bool:
    return bool((alloc.get("DeploymentStatus") or {}).get("Canary"))


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
