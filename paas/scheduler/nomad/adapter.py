"""NomadScheduler: the Scheduler port (paas.domain.scheduler) on a Nomad cluster. Each app is one
service job `paas-<app>` (one group per process type, Consul service `<app>-<type>`), one-off
runs dispatch from the parameterized batch job `paas-<app>.run`. Nomad keeps the state (jobs,
versions, deployments, allocations); this adapter keeps none."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import nomad

from paas.domain import names
from paas.domain.errors import Unsupported
from paas.domain.ports import RouteTags
from paas.domain.scheduler import AppPlan, AttachedRun, Instance, InstanceReport, LogSink

from .. import probe as checks
from . import allocs as A
from . import logs, runs
from .client import NomadApi
from .deployments import Deployments
from .jobspec import APP_META, PLATFORM_META, render_job
from .options import NomadOptions

# What preview() shows for the deployment id each start() puts in the job's Meta.
PREVIEW_DEPLOYMENT = "(set by each deployment)"


class NomadScheduler:
    """paas.domain.scheduler.Scheduler on Nomad. tags: the RouteTags port (domain/ports.py) the
    web services are registered with; settings: Settings (or anything NomadOptions.from_settings
    reads)."""

    def __init__(self, settings: Any, tags: RouteTags, options: NomadOptions | None = None,
                 client: nomad.Nomad | None = None):
        self.settings = settings
        self.options = options or NomadOptions.from_settings(settings)
        self.api = NomadApi(self.options, client)
        self.deployments = Deployments(self.api, tags)
        self.tags = tags

    @property
    def client(self) -> nomad.Nomad:
        return self.api.client

    # ------------------------------------------------------------------ deployments
    def start(self, plan: AppPlan, deployment_id: str) -> None:
        self.deployments.start(plan, deployment_id)

    def observe(self, plan: AppPlan, deployment_id: str) -> list[InstanceReport]:
        return self.deployments.observe(plan, deployment_id)

    def promote(self, plan: AppPlan, deployment_id: str) -> None:
        self.deployments.promote(plan, deployment_id)

    def unroute(self, plan: AppPlan, keep: set[str]) -> None:
        """Nomad's promotion moves the routes itself: it stops the previous allocations, and their
        services leave Consul first (shutdown_delay)."""

    def retire(self, plan: AppPlan, keep: set[str]) -> int:
        return self.deployments.retire(plan, keep)

    def discard(self, plan: AppPlan, deployment_id: str) -> None:
        self.deployments.discard(plan, deployment_id)

    def reconcile(self, plan: AppPlan, deployment_id: str, keep: set[str]) -> None:
        """Nomad replaces crashed allocations and stops what no job version wants: `keep` needs
        nothing more here."""
        self.deployments.reconcile(plan, deployment_id)

    def preview(self, plan: AppPlan) -> str:
        return render_job(plan, self.options, self.tags, PREVIEW_DEPLOYMENT)

    # ------------------------------------------------------------------ apps
    def destroy(self, app: str) -> None:
        """Purge the app's jobs, those of this platform only (Meta platform): another platform on
        the same cluster and namespace may have an app of the same name."""
        with self.api.errors(f"destroy {app}"):
            children = self.client.jobs.get_jobs(prefix=f"{names.run_job(app)}/", meta=True) or []
            ours = [c["ID"] for c in children if self._ours(c)]
            for job_id in [names.job(app), names.run_job(app)]:
                job = self.api.job(job_id)
                if job is not None and self._ours(job):
                    ours.append(job_id)
            for job_id in ours:
                self.api.purge_job(job_id)

    def _ours(self, job: dict) -> bool:
        return (job.get("Meta") or {}).get(PLATFORM_META) in (None, self.options.platform)

    def instance_events(self, timeout: float) -> set[str] | None:
        """Nomad replaces failed allocations itself; the supervisor reconciles on a timer."""
        return None

    def apps(self) -> set[str]:
        """The apps with a job of this platform in Nomad (Meta app + platform); jobs of other
        platforms and operators are never listed."""
        with self.api.errors("list the apps in Nomad"):
            stubs = self.client.jobs.get_jobs(prefix="paas-", meta=True) or []
        found = set()
        for stub in stubs:
            meta = stub.get("Meta") or {}
            app = meta.get(APP_META)
            if app and meta.get(PLATFORM_META) == self.options.platform \
                    and stub.get("ID") in (names.job(app), names.run_job(app)):
                found.add(app)
        return found

    def instances(self, app: str) -> list[Instance]:
        """What `ps` shows: every allocation meant to run, and crashed ones Nomad has not replaced
        (yet); web instances' health is probed now, a crash-looping one is never passing."""
        job_id = names.job(app)
        with self.api.errors(f"list the instances of {app}"):
            job = self.api.job(job_id)
            if job is None:
                return []
            live = None if job.get("Stop") else A.label_of(job).deployment
            found = [a for a in self.api.allocations(job_id) if A.wanted(a) or _unreplaced_crash(a)]
            labels, _ = self.deployments.labelled(job_id, found)
        # A crashed canary is its failed deployment's business (its failure says why); a crashed
        # instance of what the job runs now is shown until Nomad replaces it.
        shown = [a for a in found if A.wanted(a) or (not A.canary(a) and labels[a["ID"]].deployment == live)]
        web = {g["Name"]: _check_path(g) for g in job.get("TaskGroups") or [] if g.get("Services")}
        targets = {a["ID"]: (A.address(a), web[a["TaskGroup"]]) for a in shown
                   if a.get("TaskGroup") in web and A.address(a) and A.instance_state(a) == "running"}
        results = checks.probe_all(targets, self.options.check_timeout)
        out = []
        for alloc in shown:
            state = A.instance_state(alloc)
            ended = A.last_exit(alloc)
            if state in ("restarting", "crashed") or (state == "running" and A.crash_looping(alloc)):
                health = "critical"
            elif state != "running":
                health = "unknown"
            elif alloc["ID"] in results:
                health = "passing" if results[alloc["ID"]].passing else "critical"
            else:
                health = "passing"
            out.append(Instance(
                id=alloc["ID"], app=app, release=labels[alloc["ID"]].release, type=alloc.get("TaskGroup", ""),
                state=state, health=health, address=A.address(alloc), canary=A.canary(alloc),
                started_at=A.started_at(alloc), restarts=A.restarts(alloc), exit_code=ended.code if ended else None))
        return sorted(out, key=lambda i: (i.type, i.release, i.id))

    # ------------------------------------------------------------------ logs and runs
    def logs(self, app: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        with self.api.errors(f"read the logs of {app}"):
            found = [a for a in self.api.allocations(names.job(app)) if A.wanted(a)
                     and (process_type is None or a.get("TaskGroup") == process_type)]
        return logs.follow(self.api, found, tail) if follow else logs.tail(self.api, found, tail)

    def run(self, plan: AppPlan, command: str, sink: LogSink, cancel: threading.Event | None = None) -> int:
        return runs.run(self.api, plan, command, sink, cancel)

    def attach(self, plan: AppPlan, command: str, tty: bool, size: tuple[int, int] | None) -> AttachedRun:
        # Nomad's alloc exec (a websocket to a running task) would be the way; not built yet.
        raise Unsupported("Interactive runs (a terminal or stdin) need the docker scheduler; on Nomad, "
                          "`paas run --no-stdin COMMAND` streams a command's output")

    def run_detached(self, plan: AppPlan, command: str) -> str:
        raise Unsupported("Detached runs need the docker scheduler")


def _unreplaced_crash(alloc: dict) -> bool:
    return alloc.get("ClientStatus") == "failed" and alloc.get("DesiredStatus") == "run" \
        and not alloc.get("NextAllocation")


def _check_path(group: dict) -> str | None:
    for service in group.get("Services") or []:
        for check in service.get("Checks") or []:
            return (check.get("Path") or None) if check.get("Type") == "http" else None
    return None

