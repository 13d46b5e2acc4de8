"""One-off runs (`paas run`) on Nomad: the app's parameterized batch job `paas-<app>.run` (never
restarted or rescheduled) is registered for the release, then dispatched once per run with the
command in the dispatch Meta; its output is streamed, its exit code returned. The dispatched job
is stopped when the client goes away or the run outlasts PAAS_RUN_TIMEOUT."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from paas.domain import names
from paas.domain.errors import ConcurrentUpdate, PaasError
from paas.domain.scheduler import AppPlan, LogSink

from . import allocs as A
from . import logs
from .client import NomadApi, Unreachable
from .jobspec import RUN_GROUP, render_run_job

log = logging.getLogger(__name__)
KILLED = 137  # 128 + SIGKILL, as Docker reports a killed process


def run(api: NomadApi, plan: AppPlan, command: str, sink: LogSink, cancel: threading.Event | None) -> int:
    parent = names.run_job(plan.app)
    doing = f"run a one-off process of {plan.app}"
    secrets = [*plan.env.values(), command]
    hcl = render_run_job(plan, api.options)
    try:
        api.register(parent, hcl, doing, plan.env.values())
    except ConcurrentUpdate:
        api.register(parent, hcl, doing, plan.env.values())  # two runs at once: once more
    child = _dispatch(api, parent, command, doing)
    with api.errors(doing, secrets):
        alloc = _wait_alloc(api, child, lambda a: A.task_state(a).get("State") in ("running", "dead")
                            or a.get("ClientStatus") in A.TERMINAL, api.options.run_start_timeout)
    stopped = _stop_when(api, child, cancel or threading.Event(), api.options.run_timeout)
    try:
        logs.stream_to(api, alloc, RUN_GROUP, sink)
        with api.errors(doing, secrets):
            alloc = _wait_alloc(api, child, lambda a: a.get("ClientStatus") in A.TERMINAL, timeout=None)
    finally:
        stopped["finished"].set()
    if stopped.get("why") == "timeout":
        raise PaasError(f"The command ran longer than {api.options.run_timeout:g}s (PAAS_RUN_TIMEOUT) "
                        "and was killed")
    if stopped.get("why") == "cancelled":
        return KILLED  # nobody is waiting for it anyway
    return _exit_code(api, alloc, plan.app, secrets)


def _stop_when(api: NomadApi, child: str, cancel: threading.Event, timeout: float) -> dict:
    """Stop the dispatched job when `cancel` is set (the client went away) or at `timeout`:
    Nomad kills its task, and the log streams and the wait above end."""
    state: dict = {"finished": threading.Event()}

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not state["finished"].wait(0.2):
            if cancel.is_set() or time.monotonic() >= deadline:
                state["why"] = "cancelled" if cancel.is_set() else "timeout"
                try:
                    with api.errors(f"stop the one-off process {child}"):
                        api.stop_job(child)
                except PaasError as exc:
                    log.warning("nomad: %s", exc)
                return

    threading.Thread(target=watch, name="paas-run-watch", daemon=True).start()
    return state


def _dispatch(api: NomadApi, parent: str, command: str, doing: str) -> str:
    """POST /v1/job/:id/dispatch with the idempotency token in the query string (python-nomad's
    dispatch_job puts it in the body, where Nomad ignores it); a retry after a lost answer
    reuses the token, so Nomad never starts the command twice."""
    token = uuid.uuid4().hex
    body = {"JobID": parent, "Meta": {"command": command}}
    for attempt in range(2):
        try:
            with api.errors(doing, [command]):
                response = api.call(api.client.job, parent, "dispatch", method="post", body=body,
                                    params={"idempotency_token": token})
            return response.json()["DispatchedJobID"]
        except Unreachable:
            if attempt:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")  # pragma: no cover


def _wait_alloc(api: NomadApi, job_id: str, ready: Callable[[dict], bool], timeout: float | None = 60.0) -> dict:
    deadline = None if timeout is None else time.monotonic() + timeout
    index = 0
    while True:
        allocs, index = api.wait_allocations(job_id, index, 5.0)
        if allocs and ready(allocs[0]):
            return allocs[0]
        if deadline is not None and time.monotonic() > deadline:
            state = allocs[0].get("ClientStatus") if allocs else "not placed"
            raise PaasError(f"The one-off process ({job_id}) did not start within {timeout:g}s "
                            f"(allocation: {state}); see `nomad job status {job_id}`")


def _exit_code(api: NomadApi, alloc: dict, app: str, secrets: Iterable[str]) -> int:
    ended = A.last_exit(alloc)
    if ended is not None and ended.code is not None:
        return ended.code
    messages = [e.get("DisplayMessage") or e.get("Type") for e in A.events(alloc)]
    reason = api.scrub("; ".join(m for m in messages if m)[-300:], secrets)
    raise PaasError(f"The one-off process of {app} did not run on Nomad ({alloc.get('ClientStatus')}): {reason}")
