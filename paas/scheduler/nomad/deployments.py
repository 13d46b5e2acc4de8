"""The platform's deployments mapped onto Nomad's (start, observe, promote, retire, discard,
reconcile). The state machine is the domain's (domain/deployments.py); this module only places,
observes, routes and stops allocations, and keeps no state of its own: Nomad has it all.

    label      every job version carries Meta paas_deployment = the platform's deployment id; an
               allocation belongs to the deployment of the job version it runs (in-place updates
               and Nomad's reverts keep the label, since they copy the version's Meta)
    start      register the plan's job (check-and-set on JobModifyIndex) with the new label. The
               Meta change is destructive, so Nomad places canary = count new allocations beside
               the old ones, registered in Consul with the canary tags (unrouted). A job's first
               version (or one whose groups ran nothing) gets no canaries: Nomad places its
               allocations directly, routed once their check passes; nothing else serves anyway
    observe    the allocations of the deployment's versions, each with the adapter's own probe of
               its check, its last exit (TaskStates events) and, once it ended, its last lines
    promote    mark the canaries healthy in Nomad's deployment (the platform judged them:
               /v1/deployment/allocation-health), then promote it: Nomad re-registers them with
               the live tags and stops every older allocation (shutdown_delay, then kill_timeout)
    retire     how many allocations of other deployments still exist (Nomad stops them itself;
               a live deployment with nothing to run registers its all-zero job to make it)
    discard    fail Nomad's deployment (its unpromoted canaries stop; auto_revert registers the
               last stable version again); if the job still runs this deployment's spec, revert
               it to the version of the deployment that still serves (EnforcePriorVersion), or
               re-register that version's spec from one of its allocations when Nomad no longer
               tracks it, or stop the job when nothing else runs (a first deploy that failed)
    reconcile  Nomad replaces crashed allocations itself; register the live deployment's job
               again, without canaries, when Nomad's differs (quantities, tags, checks: in
               place), vanished, was stopped, or still says another deployment
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests
from nomad.api import exceptions as nomad_errors

from paas.domain import names
from paas.domain.errors import ConcurrentUpdate, NotFound, PaasError, StartFailed, ValidationError
from paas.domain.ports import RouteTags
from paas.domain.scheduler import AppPlan, CheckResult, InstanceReport

from .. import probe as checks
from . import allocs as A
from . import logs
from .client import CAS_CONFLICT, NomadApi
from .jobspec import render_job
from .options import NomadOptions

log = logging.getLogger(__name__)
ACTIVE = {"running", "paused", "pending", "blocked", "unblocking", "initializing"}
CAS_RETRIES = 3


class Deployments:
    def __init__(self, api: NomadApi, tags: RouteTags):
        self.api = api
        self.tags = tags

    @property
    def options(self) -> NomadOptions:
        return self.api.options

    # ------------------------------------------------------------------ labels
    def labelled(self, job_id: str, allocations: list[dict]) -> tuple[dict[str, A.Label], dict[int, A.Label]]:
        """alloc id -> label, and job version -> label. A version Nomad no longer tracks (it
        keeps a few) is read from an allocation that runs it (GET /v1/allocation/:id has Job)."""
        versions = A.labels(self.api.versions(job_id))
        out = {}
        for alloc in allocations:
            version = int(alloc.get("JobVersion") or 0)
            if version not in versions:
                full = self.api.allocation(alloc["ID"]) or {}
                versions[version] = A.label_of(full.get("Job") or {})
            out[alloc["ID"]] = versions[version]
        return out, versions

    # ------------------------------------------------------------------ start
    def start(self, plan: AppPlan, deployment_id: str) -> None:
        job_id = names.job(plan.app)
        doing = f"start release v{plan.release} of {plan.app}"
        secrets = list(plan.env.values())
        try:
            hcl = render_job(plan, self.options, self.tags, deployment_id)
        except ValidationError as exc:
            raise StartFailed(f"Release v{plan.release} of {plan.app} cannot run on Nomad: {exc}") from None
        with self.api.errors(doing, secrets):
            current = self.api.job(job_id)
        if current and not current.get("Stop") and A.label_of(current).deployment == deployment_id:
            return  # registered already (a controller that crashed after registering)
        try:
            with self.api.errors(doing, secrets):
                job = self.api.parse(hcl)
            # Check-and-set: a job someone else registered since it was read is never overwritten
            # here (ConcurrentUpdate; the deploy service tries again with what it reads then).
            self.api.submit(job_id, job, int(current["JobModifyIndex"]) if current else 0, doing, secrets, hcl)
        except ValidationError as exc:
            raise StartFailed(f"Nomad refused release v{plan.release} of {plan.app}: {exc}") from None

    # ------------------------------------------------------------------ observe
    def observe(self, plan: AppPlan, deployment_id: str) -> list[InstanceReport]:
        job_id = names.job(plan.app)
        with self.api.errors(f"observe the deployment of v{plan.release} of {plan.app}"):
            allocations = self.api.allocations(job_id)
            labels, _ = self.labelled(job_id, allocations)
        # Told to stop means Nomad gave up on it (a cancelled or failed deployment): not a crash.
        mine = [a for a in allocations if labels[a["ID"]].deployment == deployment_id
                and a.get("DesiredStatus") == "run"]
        states = {a["ID"]: A.report_state(a) for a in mine}
        targets = {}
        for alloc in mine:
            process = plan.process(alloc.get("TaskGroup", ""))
            address = A.address(alloc)
            if process and process.is_web and address and states[alloc["ID"]] == "running":
                targets[alloc["ID"]] = (address, process.healthcheck)
        results = checks.probe_all(targets, self.options.check_timeout)
        reports = []
        for alloc in sorted(mine, key=lambda a: (a.get("TaskGroup", ""), a.get("CreateIndex", 0))):
            reports.append(self._report(plan, alloc, labels[alloc["ID"]], states[alloc["ID"]],
                                        results.get(alloc["ID"])))
        return reports

    def _report(self, plan: AppPlan, alloc: dict, label: A.Label, state: str,
                check: CheckResult | None) -> InstanceReport:
        process = plan.process(alloc.get("TaskGroup", ""))
        if check is None and process is not None and process.is_web and state == "running":
            check = CheckResult(passing=False, detail="no address for its port yet")
        ended = A.last_exit(alloc)
        code = ended.code if ended else None
        if ended and not code and ended.signal:
            code = 128 + ended.signal  # killed by a signal: as Docker reports it
        restarts = A.restarts(alloc)
        last: list[str] = []
        if state in ("exited", "dead") or restarts or (ended and ended.oom_killed) \
                or (check is not None and check.answered and not check.passing):
            last = [self.api.scrub(line) for line in logs.last_lines(self.api, alloc) + A.failure_messages(alloc)]
        return InstanceReport(
            id=alloc["ID"], type=alloc.get("TaskGroup", ""), release=label.release or plan.release, state=state,
            exit_code=code, oom_killed=bool(ended and ended.oom_killed), restarts=restarts, check=check,
            last_lines=last[-logs.LAST_LINES:])

    # ------------------------------------------------------------------ promote
    def promote(self, plan: AppPlan, deployment_id: str) -> None:
        job_id = names.job(plan.app)
        doing = f"promote the deployment of v{plan.release} of {plan.app}"
        with self.api.errors(doing):
            job = self.api.job(job_id)
            if job is None:
                raise NotFound(f"{plan.app} has no job in Nomad: nothing to promote")
            versions = {v for v, label in A.labels(self.api.versions(job_id)).items()
                        if label.deployment == deployment_id}
            mine = [d for d in self.api.deployments(job_id) if int(d.get("JobVersion") or 0) in versions]
        active = next((d for d in mine if d.get("Status") in ACTIVE), None)
        if active is None:
            if int(job.get("Version") or 0) in versions and not job.get("Stop"):
                return  # a version without canaries (a first one): its allocations are routed already
            ended = mine[0] if mine else None
            why = f"{ended.get('Status')}: {ended.get('StatusDescription')}" if ended else "another version replaced it"
            raise PaasError(f"Cannot promote the deployment of v{plan.release} of {plan.app}: Nomad ended it ({why})")
        groups = {name: state for name, state in (active.get("TaskGroups") or {}).items()
                  if int(state.get("DesiredCanaries") or 0) > 0 and not state.get("Promoted")}
        if not groups:
            return  # promoted already, or nothing to promote (in place)
        placed = {c for state in groups.values() for c in state.get("PlacedCanaries") or []}
        with self.api.errors(doing):
            allocations = self.api.allocations(job_id)
        undecided = [a["ID"] for a in allocations if a["ID"] in placed and A.wanted(a)
                     and (a.get("DeploymentStatus") or {}).get("Healthy") is not True]
        with self.api.errors(doing):
            if undecided:
                self.api.set_health(active["ID"], undecided)
            try:
                self.api.client.deployment.promote_deployment_all(active["ID"])
            except nomad_errors.BaseNomadException as exc:
                response = exc.nomad_resp
                if isinstance(response, requests.Response) and response.status_code >= 500 \
                        and "healthy" in response.text and CAS_CONFLICT not in response.text:
                    raise ValidationError("Cannot promote: not every canary is healthy "
                                          f"({response.text.strip()[:200]})") from None
                raise

    # ------------------------------------------------------------------ retire
    def retire(self, plan: AppPlan, keep: set[str]) -> int:
        """Nomad stops the older allocations itself once canaries are promoted (shutdown_delay,
        then the task's kill_timeout): count those that still exist."""
        job_id = names.job(plan.app)
        doing = f"count the old instances of {plan.app}"
        with self.api.errors(doing):
            job = self.api.job(job_id)
            allocations = [a for a in self.api.allocations(job_id) if A.exists(a)]
            labels, _ = self.labelled(job_id, allocations)
        others = [a for a in allocations if labels[a["ID"]].deployment not in keep]
        if others and job is not None and len(keep) == 1 and not any(p.quantity for p in plan.processes) \
                and A.label_of(job).deployment not in keep and any(A.wanted(a) for a in others):
            # A live deployment with nothing to run is never started: Nomad would not stop the
            # others on its own; registering its job (every count 0) does.
            self.reconcile(plan, next(iter(keep)))
        return len(others)

    # ------------------------------------------------------------------ discard
    def discard(self, plan: AppPlan, deployment_id: str) -> None:
        job_id = names.job(plan.app)
        doing = f"discard the deployment of v{plan.release} of {plan.app}"
        for attempt in range(CAS_RETRIES):
            with self.api.errors(doing):
                job = self.api.job(job_id)
                if job is None or job.get("Stop"):
                    return
                mine = {v for v, label in A.labels(self.api.versions(job_id)).items()
                        if label.deployment == deployment_id}
                for dep in self.api.deployments(job_id):
                    if int(dep.get("JobVersion") or 0) in mine and dep.get("Status") in ACTIVE:
                        self._fail(dep["ID"])
                job = self.api.job(job_id)
            if job is None or job.get("Stop") or int(job.get("Version") or 0) not in mine:
                return  # Nomad reverted it, or a newer deployment registered the job since
            try:
                self._go_back(plan, job, mine, deployment_id, doing)
                return
            except ConcurrentUpdate:
                if attempt == CAS_RETRIES - 1:
                    raise  # someone else keeps registering the job: the deploy service retries

    def _fail(self, nomad_deployment: str) -> None:
        try:
            self.api.client.deployment.fail_deployment(nomad_deployment)
        except nomad_errors.BaseNomadException as exc:
            # Already terminal (Nomad failed it at the progress deadline, or it was cancelled).
            if not (isinstance(exc.nomad_resp, requests.Response) and "terminal" in exc.nomad_resp.text):
                raise

    def _go_back(self, plan: AppPlan, job: dict, mine: set[int], deployment_id: str, doing: str) -> None:
        """The job still runs the discarded deployment's spec (no stable version to revert to):
        register the spec of the deployment whose allocations still run, or stop the job."""
        job_id = job["ID"]
        with self.api.errors(doing):
            allocations = [a for a in self.api.allocations(job_id) if A.wanted(a)]
            labels, _ = self.labelled(job_id, allocations)
            serving = [a for a in allocations if labels[a["ID"]].deployment != deployment_id]
            if not serving:
                log.info("nomad: %s: nothing else runs, stopping job %s", doing, job_id)
                self.api.stop_job(job_id)
                return
            wanted = {labels[a["ID"]].deployment for a in serving}
            tracked = A.labels(self.api.versions(job_id))
            target = next((v for v in sorted(tracked, reverse=True)
                           if v not in mine and tracked[v].deployment in wanted), None)
            if target is not None:
                self.api.client.job.revert_job(job_id, target, enforce_prior_version=int(job["Version"]))
                return
            # The serving version is no longer tracked: register its spec again, from an allocation.
            spec = (self.api.allocation(serving[0]["ID"]) or {}).get("Job")
            if not spec:
                raise PaasError(f"Could not {doing}: Nomad no longer has the job version that serves")
        self.api.submit(job_id, _spec(spec), int(job["JobModifyIndex"]), doing, plan.env.values())

    # ------------------------------------------------------------------ reconcile
    def reconcile(self, plan: AppPlan, deployment_id: str) -> None:
        """Register the live deployment's job again when Nomad's differs from the plan: other
        quantities, tags or checks (applied in place), a job that vanished or was stopped, or a
        job that still says another deployment (a live deployment that had nothing to run, a
        discard that could not go back). It is registered without canaries: nobody promotes
        them, so what Nomad must replace it replaces in place of the old allocations. The deploy
        service calls this only while no rollout is starting."""
        job_id = names.job(plan.app)
        doing = f"apply the formation of {plan.app}"
        secrets = list(plan.env.values())
        with self.api.errors(doing, secrets):
            job = self.api.job(job_id)
        hcl = render_job(plan, self.options, self.tags, deployment_id, canaries=False)
        with self.api.errors(doing, secrets):
            wanted = self.api.parse(hcl)
        if job is not None and not job.get("Stop"):
            if A.label_of(job).deployment == deployment_id and shape(job) == shape(wanted) \
                    and not destructive(job, wanted):
                return
        else:
            log.info("nomad: %s: job %s is gone or stopped, registering the live deployment again", doing, job_id)
        self.api.submit(job_id, wanted, int(job["JobModifyIndex"]) if job else 0, doing, secrets, hcl)


SERVER_FIELDS = {"Version", "Stable", "SubmitTime", "CreateIndex", "ModifyIndex", "JobModifyIndex", "Status",
                 "StatusDescription", "Stop"}


def _spec(job: dict) -> dict:
    return {k: v for k, v in job.items() if k not in SERVER_FIELDS}


def shape(job: dict) -> str:
    """What reconcile may change in place: group counts and services (tags, checks)."""
    groups = {}
    for group in job.get("TaskGroups") or []:
        services = [{"Name": s.get("Name"), "Tags": sorted(s.get("Tags") or []),
                     "CanaryTags": sorted(s.get("CanaryTags") or []),
                     "Checks": [(c.get("Type"), c.get("Path") or "") for c in s.get("Checks") or []]}
                    for s in group.get("Services") or []]
        groups[group["Name"]] = {"Count": int(group.get("Count") or 0), "Services": services}
    return json.dumps(groups, sort_keys=True)


def destructive(current: dict, wanted: dict) -> bool:
    """Would Nomad replace allocations (task config, env, resources, job Meta)?"""
    if (current.get("Meta") or {}) != (wanted.get("Meta") or {}):
        return True
    have = {g["Name"]: g for g in current.get("TaskGroups") or []}
    for group in wanted.get("TaskGroups") or []:
        old = have.get(group["Name"])
        if old is not None and _tasks(old) != _tasks(group):
            return True
    return False


def _tasks(group: dict) -> list[Any]:
    return [(t.get("Name"), t.get("Config"), t.get("Env") or {}, t.get("User") or "",
             int((t.get("Resources") or {}).get("CPU") or 0), int((t.get("Resources") or {}).get("MemoryMB") or 0))
            for t in group.get("Tasks") or []]

