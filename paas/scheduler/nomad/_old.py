"""The cluster scheduler: each app is one Nomad job, rolled out canary-then-promote by Nomad.

    render   jobspecs/app.nomad.hcl.j2 (one group per process type, update { canary = count,
             auto_promote = false, auto_revert = true }, live tags vs canary tags, Meta)
    parse    POST /v1/jobs/parse (Canonicalize) -- Nomad itself turns the HCL into its JSON job
    submit   POST /v1/jobs with EnforceIndex (check-and-set on JobModifyIndex) and the HCL as the
             version's Submission, so `nomad job inspect`/the UI show what the platform sent
    follow   GET /v1/job/:id/deployments, mapped 1:1 onto the port's Deployment/GroupState;
             promote/fail through /v1/deployment/{promote,fail}/:id; Nomad reverts failed ones

Nomad keeps the state (jobs, versions, deployments, allocations): this adapter keeps none.
python-nomad does the HTTP; the few calls it gets wrong or lacks (blocking queries, the dispatch
idempotency token, streamed logs, ?resources=true) go through its requester directly. Names: job `paas-<app>`, group/task `<type>`, Consul service
`<app>-<type>`, one-off runs `paas-<app>.run` (parameterized batch job) and its dispatches.
"""

from __future__ import annotations

import logging
import math
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jinja2
import nomad
import requests
from nomad.api import exceptions as nomad_errors

from paas.config import REPO_DIR
from paas.domain import errors
from paas.domain.errors import ConcurrentUpdate, NotFound, PaasError, PermissionDenied, ValidationError
from paas.domain.scheduler import (
    CANCELLED,
    CONTAINER_PORT,
    FAILED,
    RUNNING,
    SUCCESSFUL,
    AppPlan,
    Deployment,
    GroupState,
    Instance,
    LogSink,
    ProcessPlan,
)
from paas.router.tags import app_hosts, canary_tags, live_tags, service_name

JOBSPECS_DIR = REPO_DIR / "jobspecs"
APP_TEMPLATE = "app.nomad.hcl.j2"
RUN_TEMPLATE = "run.nomad.hcl.j2"
RUN_GROUP = "run"
# A followed log yields "" after this many seconds of quiet (see Scheduler.logs).
LOG_HEARTBEAT = 1.0
log = logging.getLogger(__name__)
# Nomad fills this in from the dispatch Meta at run time (runtime interpolation, not HCL's).
RUN_COMMAND_ARG = "${NOMAD_META_command}"
# Buildpack images carry /paas/launcher (profile.d, then `bash -c "$*"`); other images run the
# Procfile command through /bin/sh, as the docker scheduler does. "$0" is the command (args[0]).
LAUNCHER_PROBE = 'if [ -x /paas/launcher ]; then exec /paas/launcher "$0"; fi; exec /bin/sh -c "$0"'
CONSTRAINT_OPERATORS = {
    "=", "==", "is", "!=", "not", ">", ">=", "<", "<=", "regexp", "set_contains", "set_contains_all",
    "set_contains_any", "version", "semver", "is_set", "is_not_set", "distinct_hosts", "distinct_property",
}
MEMORY_RE = re.compile(r"^([0-9]+)([KMG])B?$", re.IGNORECASE)
CAS_CONFLICT = "Enforcing job modify index"
LIVE_ALLOC_STATES = {"pending", "running"}
TERMINAL_ALLOC_STATES = {"complete", "failed", "lost"}
REVERT_MARK = "rolling back to job version"

# The scheduler could not be reached: the lead's SchedulerUnavailable where it exists (both 503).
Unreachable: type[PaasError] = getattr(errors, "SchedulerUnavailable", errors.StoreUnavailable)


# ---------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Constraint:
    attribute: str
    operator: str | None = None
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """'ATTRIBUTE OPERATOR VALUE', e.g. '${node.class} = apps' or '${attr.driver.docker} is_set'."""
        parts = text.strip().split(None, 2)
        if len(parts) == 1 or parts[1] not in CONSTRAINT_OPERATORS:
            raise ValidationError(f"Invalid Nomad constraint {text.strip()[:80]!r}: use 'ATTRIBUTE OPERATOR VALUE' "
                                  f"with an operator among {', '.join(sorted(CONSTRAINT_OPERATORS))}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True)
class NomadOptions:
    """Everything the nomad adapter reads from the site's Settings, with its own defaults, so it
    works with Settings that predate the Nomad knobs (see docs/nomad.md for the variables)."""

    addr: str = "http://127.0.0.1:4646"
    token: str | None = None
    namespace: str | None = None
    region: str | None = None
    cacert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False
    timeout: float = 10.0
    datacenters: tuple[str, ...] = ("dc1",)
    node_pool: str | None = None
    constraints: tuple[str, ...] = ()
    default_memory: str = "256M"
    default_cpu: float = 0.1  # cores
    mhz_per_core: int = 1000
    registry: str = "127.0.0.1:5000"
    registry_username: str | None = None
    registry_password: str | None = None
    platform_domain: str = "paas.test"
    https_port: int | None = None  # where clients reach HTTPS (PAAS_HTTPS_PORT), for tls:force redirects
    # Job Meta `platform` (the KV prefix): apps() only reports this platform's jobs.
    platform: str = "paas"
    check_interval: float = 2.0
    check_timeout: float = 1.0
    # progress_deadline = healthy_deadline + this: Nomad's own backstop (fail + revert) when no
    # controller is there to fail a deployment whose canaries went unhealthy.
    progress_grace: float = 30.0
    # How long deploy()/scale() wait for Nomad's evaluation of a registration.
    eval_wait: float = 10.0
    # How long a one-off run may take to start (image pull included), and to run (PAAS_RUN_TIMEOUT).
    run_start_timeout: float = 300.0
    run_timeout: float = 3600.0
    # Unprivileged tasks: this user (the controller does not pull images to read their USER),
    # every capability dropped, no-new-privileges, at most this many pids.
    app_user: str = "10001:10001"
    pids_limit: int = 512
    # The group network mode (e.g. "cni/paas-apps"); None: the docker driver's default network.
    network_mode: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> NomadOptions:
        if isinstance(settings, NomadOptions):
            return settings

        def get(name: str, default: Any) -> Any:
            value = getattr(settings, name, None)
            return default if value is None or value == "" else value

        def path(name: str) -> str | None:
            value = getattr(settings, name, None)
            return str(value) if value else None

        return cls(
            addr=str(get("nomad_addr", cls.addr)),
            token=get("nomad_token", None),
            namespace=get("nomad_namespace", None),
            region=get("nomad_region", None),
            cacert=path("nomad_cacert"),
            client_cert=path("nomad_client_cert"),
            client_key=path("nomad_client_key"),
            skip_verify=bool(get("nomad_skip_verify", False)),
            timeout=float(get("nomad_timeout", cls.timeout)),
            datacenters=tuple(get("nomad_datacenters", cls.datacenters)),
            node_pool=get("nomad_node_pool", None),
            constraints=tuple(get("nomad_constraints", ())),
            default_memory=str(get("default_memory", cls.default_memory)),
            default_cpu=float(get("default_cpu", cls.default_cpu)),
            mhz_per_core=int(get("nomad_mhz_per_core", cls.mhz_per_core)),
            registry=str(get("registry", cls.registry)),
            registry_username=get("registry_username", None),
            registry_password=get("registry_password", None),
            platform_domain=str(get("platform_domain", cls.platform_domain)),
            https_port=get("https_port", None),
            platform=str(get("kv_prefix", cls.platform)),
            run_timeout=float(get("run_timeout", cls.run_timeout)),
            app_user=str(get("app_user", cls.app_user)),
            pids_limit=int(get("pids_limit", cls.pids_limit)),
            network_mode=get("nomad_network_mode", None),
        )

    @property
    def base_url(self) -> str:
        """NOMAD_ADDR without any credentials, for messages."""
        parts = urlsplit(self.addr if "://" in self.addr else f"http://{self.addr}")
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


# ---------------------------------------------------------------------------------- rendering
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


def job_id(app: str) -> str:
    return f"paas-{app}"


def run_job_id(app: str) -> str:
    """`paas-<app>.run`: a dot, which app names cannot contain, so that no app's job (app
    `shop-run` has `paas-shop-run`) can ever be another app's run job."""
    return f"paas-{app}.run"


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


def _context(plan: AppPlan, options: NomadOptions, the_job_id: str) -> dict:
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
            "app": plan.app,
            "release": str(plan.release),
            "git_sha": plan.git_sha or "",
            "build_id": plan.build_id or "",
            "restart_token": plan.restart_token or "",
            "platform": options.platform,
        },
        "auth": auth,
        "container_port": CONTAINER_PORT,
        "network_mode": options.network_mode,
    }


def render_job(plan: AppPlan, settings: Any, *, tags: list[str] | None = None,
               canary: list[str] | None = None) -> str:
    """The HCL2 job of plan.release. settings: Settings or NomadOptions. tags/canary override the
    router's live and canary tags of the web service (tests; by default paas.router.tags)."""
    options = NomadOptions.from_settings(settings)
    update = plan.update.validate()
    if tags is None:
        tags = live_tags(plan.app, plan.release, app_hosts(plan.app, plan.domains, options.platform_domain),
                         force_tls=getattr(plan, "force_tls", False), https_port=options.https_port)
    if canary is None:
        canary = canary_tags(plan.app, plan.release)
    if set(tags) == set(canary):
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
            "web": process.is_web,
            "health_check": "checks" if process.is_web else "task_states",
            "timings": timings,
            "shutdown_delay": go_duration(update.drain_time),
            "service": None,
            **_task(plan, process, options),
        }
        if process.is_web:
            name = service_name(plan.app, process.type)
            check = {"name": f"{name} http" if process.healthcheck else f"{name} tcp",
                     "type": "http" if process.healthcheck else "tcp", "path": process.healthcheck,
                     "interval": go_duration(options.check_interval), "timeout": go_duration(options.check_timeout)}
            group["service"] = {"name": name, "tags": tags, "canary_tags": canary, "check": check,
                                "meta": {"app": plan.app, "release": str(plan.release), "type": process.type}}
        groups.append(group)
    context = {**_context(plan, options, job_id(plan.app)), "groups": groups}
    return _ENV.get_template(APP_TEMPLATE).render(**context)


def render_run_job(plan: AppPlan, settings: Any) -> str:
    """The parameterized batch job that one-off runs of plan.release are dispatched from."""
    options = NomadOptions.from_settings(settings)
    # Limits of the web process (else the first type): a run is usually a web-sized task.
    like = plan.process("web") or (plan.processes[0] if plan.processes else None)
    task = _task(plan, ProcessPlan(type=RUN_GROUP, command="-", quantity=1, memory=like.memory if like else None,
                                   cpu=like.cpu if like else None), options)
    context = {**_context(plan, options, run_job_id(plan.app)), "task": task, "command_arg": RUN_COMMAND_ARG}
    return _ENV.get_template(RUN_TEMPLATE).render(**context)


# ---------------------------------------------------------------------------------- the adapter
def _ns_to_iso(value: Any) -> str:
    if not value:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(value) / 1e9))


class NomadScheduler:
    """paas.domain.scheduler.Scheduler on a Nomad cluster (python-nomad over its HTTP API)."""

    def __init__(self, settings: Any, options: NomadOptions | None = None, client: nomad.Nomad | None = None):
        self.settings = settings
        self.options = options or NomadOptions.from_settings(settings)
        self.client = client or self._connect()

    def _connect(self) -> nomad.Nomad:
        o = self.options
        verify: bool | str = o.cacert or not o.skip_verify
        cert = (o.client_cert, o.client_key) if o.client_cert and o.client_key else ()
        return nomad.Nomad(address=o.addr.rstrip("/"), token=o.token, namespace=o.namespace, region=o.region,
                           timeout=o.timeout, verify=verify, cert=cert, session=requests.Session())

    # ------------------------------------------------------------------ errors
    @contextmanager
    def _errors(self, doing: str, secrets: Iterable[str] = ()):
        """Nomad's failures as the domain's errors, with messages that never carry a secret."""
        try:
            yield
        except nomad_errors.URLNotAuthorizedNomadException:
            raise PermissionDenied(
                f"Nomad refused to {doing} (403 Permission denied): the token in NOMAD_TOKEN lacks a capability "
                "this platform needs (docs/nomad.md lists the ACL policy)") from None
        except nomad_errors.BaseNomadException as exc:
            response = exc.nomad_resp
            if not isinstance(response, requests.Response):
                raise self._unreachable(doing, response) from None
            text = self._scrub(response.text.strip(), secrets)[:300]
            if CAS_CONFLICT in text:
                raise ConcurrentUpdate(
                    f"Could not {doing}: the Nomad job changed since it was read (another deploy or an operator "
                    f"registered it meanwhile); nothing was submitted, retry. Nomad said: {text}") from None
            if response.status_code == 404:
                raise NotFound(f"Could not {doing}: Nomad says {text or 'not found'}") from None
            if response.status_code == 400:
                raise ValidationError(f"Nomad rejected the request to {doing}: {text}") from None
            raise Unreachable(f"Nomad failed to {doing} (HTTP {response.status_code}): {text}") from None
        except requests.RequestException as exc:  # our own streaming requests
            raise self._unreachable(doing, exc) from None

    def _unreachable(self, doing: str, cause: Any) -> PaasError:
        reason = type(cause).__name__ if isinstance(cause, BaseException) else "no answer"
        text = str(cause)
        refused = isinstance(cause, requests.ConnectionError) and any(
            mark in text for mark in ("NewConnectionError", "Connection refused", "Failed to establish"))
        outcome = "the request never reached Nomad" if refused else "Nomad may or may not have received the request"
        return Unreachable(f"Nomad is unreachable at {self.options.base_url} ({reason}): could not {doing} "
                           f"({outcome}). Check NOMAD_ADDR and that the Nomad servers are up")

    def _scrub(self, text: str, secrets: Iterable[str]) -> str:
        hidden = [s for s in [*secrets, self.options.token, self.options.registry_password] if s and len(s) >= 4]
        for secret in sorted(hidden, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    # ------------------------------------------------------------------ HTTP helpers
    def _call(self, requester: Any, *path: str, method: str = "get", params: dict | None = None,
              body: Any = None, timeout: float | None = None, stream: bool = False) -> requests.Response:
        kwargs: dict[str, Any] = {"method": method, "params": dict(params or {}), "stream": stream}
        if body is not None:
            kwargs["json"] = body
        kwargs["timeout"] = timeout if timeout is not None or stream else self.options.timeout
        return requester.request(*path, **kwargs)

    def _job(self, the_job_id: str) -> dict | None:
        try:
            return self.client.job.get_job(the_job_id)
        except nomad_errors.URLNotFoundNomadException:
            return None

    def _parse(self, hcl: str) -> dict:
        return self.client.jobs.parse(hcl, canonicalize=True)

    def _register(self, the_job_id: str, hcl: str, doing: str, secrets: Iterable[str]) -> tuple[dict, dict]:
        """Parse, then register with check-and-set against the job as read; (response, job)."""
        with self._errors(doing, secrets):
            job = self._parse(hcl)
            current = self._job(the_job_id)
            index = int(current["JobModifyIndex"]) if current else 0
            response = self.client.jobs.register_job({
                "Job": job, "EnforceIndex": True, "JobModifyIndex": index,
                "Submission": {"Source": hcl, "Format": "hcl2"},
            })
        with self._errors(f"follow job {the_job_id}, which Nomad accepted", secrets):
            self._await_eval(response.get("EvalID"))
            registered = self._job(the_job_id)
        if registered is None:
            raise Unreachable(f"Nomad accepted job {the_job_id} but does not show it: could not {doing}")
        return response, registered

    def _await_eval(self, eval_id: str | None) -> None:
        """Block (Nomad blocking queries) until the evaluation has been processed, so the
        deployment it creates, if any, exists; bounded by options.eval_wait."""
        if not eval_id:
            return
        deadline = time.monotonic() + self.options.eval_wait
        index = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            wait = min(remaining, 5.0)
            response = self._call(self.client.evaluation, eval_id,
                                  params={"index": index, "wait": go_duration(wait)}, timeout=wait + self.options.timeout)
            if response.json().get("Status") != "pending":
                return
            new_index = int(response.headers.get("X-Nomad-Index", 0) or 0)
            if new_index <= index:
                time.sleep(0.05)  # a server that answers without blocking
            index = new_index

    # ------------------------------------------------------------------ versions and mapping
    def _releases(self, the_job_id: str) -> dict[int, int]:
        """job version -> the release it runs (its Meta), for the versions Nomad still tracks."""
        try:
            answer = self.client.job.get_versions(the_job_id)
        except nomad_errors.URLNotFoundNomadException:
            return {}
        releases = {}
        for job in answer.get("Versions") or []:
            try:
                releases[int(job["Version"])] = int((job.get("Meta") or {}).get("release", 0))
            except (TypeError, ValueError):
                releases[int(job["Version"])] = 0
        return releases

    def _map(self, app: str, dep: dict, release: int) -> Deployment:
        groups = {
            name: GroupState(
                desired_total=int(s.get("DesiredTotal") or 0),
                desired_canaries=int(s.get("DesiredCanaries") or 0),
                placed_canaries=len(s.get("PlacedCanaries") or []),
                healthy=int(s.get("HealthyAllocs") or 0),
                unhealthy=int(s.get("UnhealthyAllocs") or 0),
                promoted=bool(s.get("Promoted")),
            )
            for name, s in sorted((dep.get("TaskGroups") or {}).items())
        }
        return Deployment(
            id=dep["ID"], app=app, release=release, status=dep.get("Status") or RUNNING,
            description=dep.get("StatusDescription") or "", groups=groups,
            created_at=_ns_to_iso(dep.get("CreateTime")), updated_at=_ns_to_iso(dep.get("ModifyTime")),
        )

    def _map_by_id(self, app: str, deployment_id: str) -> Deployment:
        try:
            dep = self.client.deployment.get_deployment(deployment_id)
        except nomad_errors.URLNotFoundNomadException:
            raise NotFound(f"Deployment {deployment_id} of {app} not found in Nomad") from None
        return self._map(app, dep, self._releases(dep["JobID"]).get(int(dep["JobVersion"]), 0))

    def _allocations(self, the_job_id: str) -> list[dict]:
        response = self._call(self.client.job, the_job_id, "allocations", params={"resources": "true"})
        return response.json() or []

    def _synthetic(self, app: str, job: dict) -> Deployment:
        """A job version that Nomad made no deployment for (count 0, or a Nomad that skips the
        first version): successful once its allocations run, never before."""
        version = int(job.get("Version") or 0)
        allocs = [a for a in self._allocations(job["ID"])
                  if a.get("JobVersion") == version and a.get("ClientStatus") == "running"]
        groups = {}
        for group in job.get("TaskGroups") or []:
            running = sum(1 for a in allocs if a.get("TaskGroup") == group["Name"])
            groups[group["Name"]] = GroupState(desired_total=int(group.get("Count") or 0), healthy=running)
        done = all(g.healthy >= g.desired_total for g in groups.values())
        release = int((job.get("Meta") or {}).get("release", 0) or 0)
        return Deployment(
            id=f"{job['ID']}:v{version}", app=app, release=release, status=SUCCESSFUL if done else RUNNING,
            description=("Job version running: Nomad made no deployment for it" if done
                         else "Waiting for the job's allocations to run"),
            groups=groups, created_at=_ns_to_iso(job.get("SubmitTime")),
        )

    # ------------------------------------------------------------------ the port
    def deploy(self, plan: AppPlan) -> Deployment:
        the_job_id = job_id(plan.app)
        hcl = render_job(plan, self.options)
        _, job = self._register(the_job_id, hcl, f"deploy release v{plan.release} of {plan.app}", plan.env.values())
        with self._errors(f"read the deployment of v{plan.release} of {plan.app}, which Nomad accepted"):
            latest = self._deployments(the_job_id)
            version = int(job.get("Version") or 0)
            mine = next((d for d in latest if int(d["JobVersion"]) == version), None)
            if mine is None:
                return self._synthetic(plan.app, job)
            return self._map(plan.app, mine, plan.release)

    def _deployments(self, the_job_id: str) -> list[dict]:
        found = self.client.job.get_deployments(the_job_id) or []
        return sorted(found, key=lambda d: int(d.get("CreateIndex") or 0), reverse=True)

    def deployment(self, app: str) -> Deployment | None:
        the_job_id = job_id(app)
        with self._errors(f"read the deployment of {app}"):
            job = self._job(the_job_id)
            if job is None:
                return None
            version = int(job.get("Version") or 0)
            if job.get("Stop"):
                return Deployment(id=f"{the_job_id}:v{version}", app=app,
                                  release=int((job.get("Meta") or {}).get("release", 0) or 0), status=CANCELLED,
                                  description=f"Job {the_job_id} is stopped in Nomad (nomad job stop)")
            found = self._deployments(the_job_id)
            releases = self._releases(the_job_id) if found else {}
            newest = found[0] if found else None
            if newest and _reverting(newest) and version > int(newest["JobVersion"]):
                failed = self._map(app, newest, releases.get(int(newest["JobVersion"]), 0))
                failed.description += " (reverting)"
                return failed
            if newest is None or int(newest["JobVersion"]) < version:
                return self._synthetic(app, job)  # this job version has no deployment
            release = releases.get(int(newest["JobVersion"]), 0)
            deployment = self._map(app, newest, release)
            if len(found) > 1 and _reverting(found[1]):
                failed_release = releases.get(int(found[1]["JobVersion"]), 0)
                if release < failed_release:
                    # Nomad's revert after a failed deployment: report the failure, which is what
                    # happened to the release being deployed (its successor only restores the old).
                    reverted = self._map(app, found[1], failed_release)
                    reverted.description += (f" (v{release} serving again)" if newest.get("Status") == SUCCESSFUL
                                             else f" (reverting to v{release})")
                    return reverted
        sick = [name for name, g in deployment.groups.items() if g.unhealthy > 0 and not g.promoted]
        if deployment.status == RUNNING and sick:
            return self.fail(app, deployment.id, f"Instances of {', '.join(sick)} were unhealthy (not healthy within "
                             "healthy_deadline, or exited)")
        return deployment

    def _synthetic_id(self, app: str, deployment_id: str) -> bool:
        return deployment_id.startswith(f"{job_id(app)}:")

    def promote(self, app: str, deployment_id: str) -> Deployment:
        if self._synthetic_id(app, deployment_id):
            return self.deployment(app) or self._missing(app)
        with self._errors(f"promote deployment {deployment_id[:8]} of {app}"):
            try:
                self.client.deployment.promote_deployment_all(deployment_id)
            except nomad_errors.BaseNomadException as exc:
                response = exc.nomad_resp
                if isinstance(response, requests.Response) and response.status_code >= 500 \
                        and "healthy" in response.text and CAS_CONFLICT not in response.text:
                    raise ValidationError("Cannot promote: not every canary is healthy "
                                          f"({response.text.strip()[:200]})") from None
                raise
            return self._map_by_id(app, deployment_id)

    def fail(self, app: str, deployment_id: str, reason: str) -> Deployment:
        if self._synthetic_id(app, deployment_id):
            deployment = self.deployment(app) or self._missing(app)
            deployment.status, deployment.description = FAILED, reason
            return deployment
        with self._errors(f"fail deployment {deployment_id[:8]} of {app}"):
            try:
                self.client.deployment.fail_deployment(deployment_id)
            except nomad_errors.BaseNomadException as exc:
                # Already terminal (e.g. Nomad failed it at the progress deadline): report it.
                if not (isinstance(exc.nomad_resp, requests.Response) and "terminal" in exc.nomad_resp.text):
                    raise
            deployment = self._map_by_id(app, deployment_id)
        if deployment.status == FAILED:
            deployment.description = f"{reason}. Nomad: {deployment.description}"
        return deployment

    def _missing(self, app: str) -> Deployment:
        raise NotFound(f"{app} has no job in Nomad")

    def reconcile(self, plan: AppPlan) -> None:
        """Nomad replaces crashed allocations itself. What it cannot know is a new formation:
        when the live release's job has other counts than the plan, apply them (scale)."""
        with self._errors(f"read the job of {plan.app}"):
            job = self._job(job_id(plan.app))
        if job is None or job.get("Stop") or str((job.get("Meta") or {}).get("release")) != str(plan.release):
            return  # not deployed, or another release is rolling out / was reverted to
        counts = {g["Name"]: int(g.get("Count") or 0) for g in job.get("TaskGroups") or []}
        wanted = {p.type: p.quantity for p in plan.processes if p.quantity > 0}
        if {k: v for k, v in counts.items() if v > 0} != wanted:
            current = self.deployment(plan.app)
            if current is None or current.finished:
                self.scale(plan)

    def scale(self, plan: AppPlan) -> None:
        """Register the live release's job with the plan's counts: only counts change, so Nomad
        updates in place (no canaries); new allocations join, extra ones stop."""
        self._register(job_id(plan.app), render_job(plan, self.options), f"scale {plan.app}", plan.env.values())

    def destroy(self, app: str) -> None:
        """Deregister the app's jobs, those of this platform only (Meta platform): another
        platform on the same cluster and namespace may have an app of the same name."""
        with self._errors(f"destroy {app}"):
            children = self.client.jobs.get_jobs(prefix=f"{run_job_id(app)}/", meta=True) or []
            ours = [c["ID"] for c in children if (c.get("Meta") or {}).get("platform") in (None, self.options.platform)]
            for the_job_id in [job_id(app), run_job_id(app)]:
                job = self._job(the_job_id)
                if job is not None and (job.get("Meta") or {}).get("platform") not in (None, self.options.platform):
                    continue
                ours.append(the_job_id)
            for the_job_id in ours:
                try:
                    self.client.job.deregister_job(the_job_id, purge=True)
                except nomad_errors.URLNotFoundNomadException:
                    pass

    def apps(self) -> set[str]:
        """The apps with a job of this platform in Nomad (Meta app + platform), for the sweep of
        apps destroyed meanwhile; jobs of other platforms and operators are never listed."""
        with self._errors("list the apps in Nomad"):
            stubs = self.client.jobs.get_jobs(prefix="paas-", meta=True) or []
        found = set()
        for stub in stubs:
            meta = stub.get("Meta") or {}
            app = meta.get("app")
            if app and meta.get("platform") == self.options.platform and stub.get("ID") in (job_id(app), run_job_id(app)):
                found.add(app)
        return found

    def instances(self, app: str) -> list[Instance]:
        the_job_id = job_id(app)
        with self._errors(f"list the instances of {app}"):
            allocs = [a for a in self._allocations(the_job_id) if a.get("ClientStatus") in LIVE_ALLOC_STATES
                      and a.get("DesiredStatus") == "run"]
            releases = self._releases(the_job_id) if allocs else {}
        return sorted((self._instance(app, a, releases) for a in allocs), key=lambda i: (i.type, i.release, i.id))

    def _instance(self, app: str, alloc: dict, releases: dict[int, int]) -> Instance:
        status = alloc.get("DeploymentStatus") or {}
        healthy = status.get("Healthy")
        task = (alloc.get("TaskStates") or {}).get(alloc.get("TaskGroup"), {}) or {}
        started = task.get("StartedAt")
        return Instance(
            id=alloc["ID"], app=app, release=releases.get(int(alloc.get("JobVersion") or 0), 0),
            type=alloc.get("TaskGroup", ""),
            state="running" if alloc.get("ClientStatus") == "running" else "starting",
            health="passing" if healthy is True else "critical" if healthy is False else "unknown",
            address=_address(alloc), canary=bool(status.get("Canary")),
            started_at=started if started and not str(started).startswith("0001") else None,
        )

    # ------------------------------------------------------------------ logs
    def _log_params(self, task: str, stream: str, tail: int, follow: bool) -> dict:
        params = {"task": task, "type": stream, "plain": "true", "follow": str(follow).lower()}
        if tail > 0:
            params.update(origin="end", offset=str(tail * 512))
        else:
            params.update(origin="start", offset="0")
        return params

    def logs(self, app: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        with self._errors(f"read the logs of {app}"):
            allocs = [a for a in self._allocations(job_id(app)) if a.get("ClientStatus") in LIVE_ALLOC_STATES
                      and a.get("DesiredStatus") == "run"
                      and (process_type is None or a.get("TaskGroup") == process_type)]
        return self._follow(allocs, tail) if follow else self._tail(allocs, tail)

    def _tail(self, allocs: list[dict], tail: int) -> Iterator[str]:
        for alloc in allocs:
            task, prefix = alloc["TaskGroup"], f"{alloc['TaskGroup']}.{alloc['ID'][:8]}"
            for stream in ("stdout", "stderr"):
                with self._errors("read the logs"):
                    try:
                        text = self._call(self.client.client.stream_logs, alloc["ID"],
                                          params=self._log_params(task, stream, tail, False)).text
                    except nomad_errors.URLNotFoundNomadException:
                        continue  # not started yet: no logs
                lines = text.splitlines()
                for line in lines[-tail:] if tail > 0 else lines:
                    yield f"{prefix} {line}"

    def _follow(self, allocs: list[dict], tail: int) -> Iterator[str]:
        lines: queue.Queue = queue.Queue()
        responses: list[requests.Response] = []
        done = object()

        def pump(alloc: dict, stream: str) -> None:
            prefix = f"{alloc['TaskGroup']}.{alloc['ID'][:8]}"
            try:
                response = self._call(self.client.client.stream_logs, alloc["ID"], stream=True, timeout=None,
                                      params=self._log_params(alloc["TaskGroup"], stream, tail, True))
                responses.append(response)
                with response:
                    for line in _lines(response):
                        lines.put(f"{prefix} {line}")
            except (nomad_errors.BaseNomadException, requests.RequestException, OSError, ValueError, AttributeError):
                pass  # the allocation went away, or the reader hung up
            finally:
                lines.put(done)

        pumps = [threading.Thread(target=pump, args=(a, s), daemon=True) for a in allocs for s in ("stdout", "stderr")]
        for thread in pumps:
            thread.start()
        remaining = len(pumps)
        try:
            while remaining:
                try:
                    item = lines.get(timeout=LOG_HEARTBEAT)
                except queue.Empty:
                    yield ""  # a keep-alive: the API notices a client that left when it writes
                    continue
                if item is done:
                    remaining -= 1
                else:
                    yield item
        finally:
            for response in list(responses):
                _hang_up(response)

    # ------------------------------------------------------------------ one-off runs
    def run(self, plan: AppPlan, command: str, sink: LogSink, cancel: threading.Event | None = None) -> int:
        parent = run_job_id(plan.app)
        doing = f"run a one-off process of {plan.app}"
        secrets = [*plan.env.values(), command]
        hcl = render_run_job(plan, self.options)
        try:
            self._register(parent, hcl, doing, plan.env.values())
        except ConcurrentUpdate:
            self._register(parent, hcl, doing, plan.env.values())  # two runs at once: once more
        child = self._dispatch(parent, command, doing)
        with self._errors(doing, secrets):
            alloc = self._wait_alloc(child, lambda a: _task_state(a).get("State") in ("running", "dead")
                                     or a.get("ClientStatus") in TERMINAL_ALLOC_STATES, self.options.run_start_timeout)
        stopped = self._stop_run_when(child, cancel or threading.Event(), self.options.run_timeout)
        try:
            self._stream_run(alloc, sink)
            with self._errors(doing, secrets):
                alloc = self._wait_alloc(child, lambda a: a.get("ClientStatus") in TERMINAL_ALLOC_STATES,
                                         timeout=None)
        finally:
            stopped["finished"].set()
        if stopped.get("why") == "timeout":
            raise PaasError(f"The command ran longer than {self.options.run_timeout:g}s (PAAS_RUN_TIMEOUT) "
                            "and was killed")
        if stopped.get("why") == "cancelled":
            return 137  # killed (128 + SIGKILL), as Docker reports it; nobody is waiting for it anyway
        return self._exit_code(alloc, plan.app, secrets)

    def _stop_run_when(self, child: str, cancel: threading.Event, timeout: float) -> dict:
        """Stop (and purge) the dispatched job when `cancel` is set (the client went away) or at
        `timeout`: Nomad kills its task, and the log streams and the wait above end."""
        state: dict = {"finished": threading.Event()}

        def watch() -> None:
            deadline = time.monotonic() + timeout
            while not state["finished"].wait(0.2):
                expired = time.monotonic() >= deadline
                if cancel.is_set() or expired:
                    state["why"] = "cancelled" if cancel.is_set() else "timeout"
                    try:
                        with self._errors(f"stop the one-off process {child}"):
                            self.client.job.deregister_job(child, purge=False)
                    except PaasError as exc:
                        log.warning("nomad: %s", exc)
                    return

        threading.Thread(target=watch, name="paas-run-watch", daemon=True).start()
        return state

    def _dispatch(self, parent: str, command: str, doing: str) -> str:
        """POST /v1/job/:id/dispatch with the idempotency token in the query string (python-nomad's
        dispatch_job puts it in the body, where Nomad ignores it); a retry after a lost answer
        reuses the token, so Nomad never starts the command twice."""
        token = uuid.uuid4().hex
        body = {"JobID": parent, "Meta": {"command": command}}
        for attempt in range(2):
            try:
                with self._errors(doing, [command]):
                    response = self._call(self.client.job, parent, "dispatch", method="post", body=body,
                                          params={"idempotency_token": token})
                return response.json()["DispatchedJobID"]
            except Unreachable:
                if attempt:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_alloc(self, the_job_id: str, ready, timeout: float | None = 60.0) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        index = 0
        while True:
            response = self._call(self.client.job, the_job_id, "allocations",
                                  params={"index": index, "wait": "5s"}, timeout=5 + self.options.timeout)
            allocs = response.json() or []
            if allocs and ready(allocs[0]):
                return allocs[0]
            if deadline is not None and time.monotonic() > deadline:
                state = allocs[0].get("ClientStatus") if allocs else "not placed"
                raise PaasError(f"The one-off process ({the_job_id}) did not start within {timeout:g}s "
                                f"(allocation: {state}); see `nomad job status {the_job_id}`")
            new_index = int(response.headers.get("X-Nomad-Index", 0) or 0)
            if new_index <= index:
                time.sleep(0.05)
            index = new_index

    def _stream_run(self, alloc: dict, sink: LogSink) -> None:
        lock = threading.Lock()

        def pump(stream: str) -> None:
            try:
                response = self._call(self.client.client.stream_logs, alloc["ID"], stream=True, timeout=None,
                                      params=self._log_params(RUN_GROUP, stream, 0, True))
                with response:
                    for line in _lines(response):
                        with lock:
                            sink(line)
            except (nomad_errors.BaseNomadException, requests.RequestException, OSError, ValueError):
                pass  # no logs (the task never started): the exit status says why

        threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in ("stdout", "stderr")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _exit_code(self, alloc: dict, app: str, secrets: Iterable[str]) -> int:
        state = _task_state(alloc)
        for event in reversed(state.get("Events") or []):
            if event.get("Type") == "Terminated":
                code = event.get("ExitCode")
                if code is None:
                    code = (event.get("Details") or {}).get("exit_code", 1)
                return int(code)
        messages = [e.get("DisplayMessage") or e.get("Type") for e in state.get("Events") or []]
        reason = self._scrub("; ".join(m for m in messages if m)[-300:], secrets)
        raise PaasError(f"The one-off process of {app} did not run on Nomad ({alloc.get('ClientStatus')}): {reason}")


def _hang_up(response: requests.Response) -> None:
    """End a streamed answer that another thread is reading: shut the socket down (closing the
    response from here would wait for the reader's lock)."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _lines(response: requests.Response) -> Iterator[str]:
    """The lines of a streamed plain-text answer as they arrive (each HTTP chunk as soon as it
    comes: iter_lines would wait for 512 bytes)."""
    pending = b""
    for chunk in response.iter_content(chunk_size=None):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _reverting(dep: dict) -> bool:
    """A deployment that failed and made Nomad register the last stable version again."""
    return dep.get("Status") == FAILED and REVERT_MARK in (dep.get("StatusDescription") or "")


def _task_state(alloc: dict) -> dict:
    return (alloc.get("TaskStates") or {}).get(RUN_GROUP) or {}


def _address(alloc: dict) -> str | None:
    """host:port of the web port, from the allocation's shared ports (or the older networks)."""
    resources = alloc.get("AllocatedResources") or {}
    for port in (resources.get("Shared") or {}).get("Ports") or []:
        if port.get("Label") == "http" and port.get("Value"):
            return f"{port.get('HostIP') or '127.0.0.1'}:{port['Value']}"
    for network in (resources.get("Shared") or {}).get("Networks") or []:
        for port in network.get("DynamicPorts") or []:
            if port.get("Label") == "http":
                return f"{network.get('IP')}:{port.get('Value')}"
    return None

