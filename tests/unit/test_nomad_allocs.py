"""The nomad adapter's pure readings of Nomad's answers (paas/scheduler/nomad/allocs.py and the
check results of checks.py): allocations as the port's states, exits, labels; what reconcile may
change in place. Shapes as Nomad's API returns them (TaskStates events from its task runner)."""

from __future__ import annotations

import time

import pytest

from paas.scheduler.nomad import allocs as A
from paas.scheduler.nomad.deployments import destructive, shape
from paas.scheduler.probe import http_result

NOW = time.time_ns()


def event(kind: str, **fields) -> dict:
    return {"Type": kind, "Time": fields.pop("Time", NOW), "DisplayMessage": fields.pop("message", kind),
            "Details": fields.pop("Details", {}), **fields}


def alloc(client: str = "running", task: str = "running", events: list[dict] | None = None, restarts: int = 0,
          desired: str = "run", **extra) -> dict:
    return {"ID": "0b6f1c2e-aaaa-bbbb-cccc-3f2a1c9d8e7f", "TaskGroup": "web", "ClientStatus": client,
            "DesiredStatus": desired, "JobVersion": 3,
            "TaskStates": {"web": {"State": task, "Restarts": restarts, "StartedAt": "2026-12-02T01:00:00Z",
                                   "Events": events if events is not None else [event("Received"), event("Started")]}},
            **extra}


def terminated(code: int, signal: int = 0, oom: bool = False) -> dict:
    details = {"exit_code": str(code), "signal": str(signal), "oom_killed": str(oom).lower()}
    if oom:
        details["exit_message"] = "OOM Killed"
    return event("Terminated", ExitCode=code, Signal=signal, Details=details)


def test_a_running_task_is_running_and_has_no_exit():
    a = alloc()
    assert (A.report_state(a), A.instance_state(a), A.last_exit(a), A.restarts(a)) == ("running", "running", None, 0)
    assert A.wanted(a) and A.exists(a)


def test_a_task_that_exited_and_waits_to_restart_is_exited_with_its_code():
    a = alloc(client="pending", task="pending", restarts=1,
              events=[event("Started"), terminated(3), event("Restarting", message="Task restarting in 15s")])
    assert A.report_state(a) == "exited" and A.instance_state(a) == "restarting"
    assert A.last_exit(a) == A.Exit(code=3)


def test_an_oom_kill_and_a_signal_are_read_from_the_details():
    oom = A.last_exit(alloc(events=[event("Started"), terminated(137, oom=True)]))
    assert oom.oom_killed and oom.code == 137 and oom.message == "OOM Killed"
    killed = A.last_exit(alloc(events=[event("Started"), terminated(0, signal=9)]))
    assert killed.signal == 9 and not killed.oom_killed


def test_a_task_that_never_started_explains_why():
    a = alloc(client="pending", task="pending",
              events=[event("Received"), event("Driver Failure", message="Failed to pull `img:1`: not found")])
    assert A.report_state(a) == "exited" and A.last_exit(a) is None
    assert A.failure_messages(a) == ["nomad: Driver Failure: Failed to pull `img:1`: not found"]


def test_terminal_allocations():
    failed = alloc(client="failed", task="dead", events=[event("Started"), terminated(1), event("Not Restarting")])
    assert A.report_state(failed) == "exited" and A.instance_state(failed) == "crashed" and not A.exists(failed)
    lost = alloc(client="lost", task="dead", events=[event("Started")])
    assert A.report_state(lost) == "dead" and A.instance_state(lost) == "crashed"
    stopping = alloc(desired="stop")
    assert A.exists(stopping) and not A.wanted(stopping)


def test_pending_is_starting():
    a = alloc(client="pending", task="pending", events=[event("Received")])
    assert A.report_state(a) == "starting" and A.instance_state(a) == "starting"


def test_crash_loops_are_recent_restarts():
    recent = alloc(restarts=2, events=[event("Started", Time=NOW - int(5e9))])
    settled = alloc(restarts=2, events=[event("Started", Time=NOW - int(600e9))])
    assert A.crash_looping(recent, NOW) and not A.crash_looping(settled, NOW) and not A.crash_looping(alloc(), NOW)


def test_labels_come_from_the_job_versions_meta():
    versions = [{"Version": 4, "Meta": {"release": "7", "paas_deployment": "d-2"}},
                {"Version": 3, "Meta": {"release": "6", "paas_deployment": "d-1"}},
                {"Version": 2, "Meta": {"release": "oops"}}]
    assert A.labels(versions) == {4: A.Label("d-2", 7), 3: A.Label("d-1", 6), 2: A.Label("", 0)}


def test_the_address_is_the_http_port():
    a = alloc(AllocatedResources={"Shared": {"Ports": [{"Label": "http", "Value": 23456, "HostIP": "10.0.0.5"}]}})
    assert A.address(a) == "10.0.0.5:23456" and A.address(alloc()) is None


@pytest.mark.parametrize(("status", "body", "passing", "detail"), [
    (200, b"ok", True, "HTTP 200"),
    (204, b"", True, "HTTP 204"),
    (500, b"Traceback:\n  boom\n", False, "HTTP 500: Traceback: boom"),
    (503, b"", False, "HTTP 503"),
    (302, b"", False, "HTTP 302"),
])
def test_http_answers(status, body, passing, detail):
    result = http_result(status, body)
    assert (result.passing, result.detail, result.answered) == (passing, detail, True)


def job(count: int = 1, tags: tuple = ("live",), image: str = "img:1", meta: dict | None = None) -> dict:
    return {"Meta": meta or {"paas_deployment": "d-1"}, "TaskGroups": [{
        "Name": "web", "Count": count, "Update": {"Canary": count},
        "Services": [{"Name": "shop-web", "Tags": list(tags), "CanaryTags": ["canary"],
                      "Checks": [{"Type": "http", "Path": "/health"}]}],
        "Tasks": [{"Name": "web", "Config": {"image": image}, "Env": {"A": "1"}, "User": "10001:10001",
                   "Resources": {"CPU": 100, "MemoryMB": 256, "DiskMB": 300}}]}]}


def test_what_reconcile_changes_in_place_and_what_needs_a_deployment():
    assert shape(job()) == shape(job()) and shape(job(count=3)) != shape(job())
    assert shape(job(tags=("live", "tls=force"))) != shape(job())
    assert shape({**job(), "TaskGroups": [{**job()["TaskGroups"][0], "Update": {"Canary": 0}}]}) == shape(job())
    assert not destructive(job(), job(count=3)) and not destructive(job(), job(tags=("other",)))
    assert destructive(job(), job(image="img:2")) and destructive(job(), job(meta={"paas_deployment": "d-2"}))
