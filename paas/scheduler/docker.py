"""The single-host scheduler: containers through the Docker Engine API, instances registered in
the local Consul agent. It keeps no state of its own: every container carries labels (app,
release, type, the deployment that started it) and every registration its Meta, so what runs is
read back from Docker and Consul; the rollout's state is the domain's (domain/deployments.py).

Canaries run without a restart policy, so one that exits stays exited with its exit code and
output for the deploy to report; promotion gives the instances Docker's on-failure restarts."""

from __future__ import annotations

import io
import json
import logging
import queue
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import consul
import docker
import docker.errors
import requests
from docker.models.containers import Container

from paas.config import Settings
from paas.domain import names
from paas.domain.errors import Conflict, PaasError, SchedulerUnavailable, StartFailed
from paas.domain.lines import FETCH_FOR_FAILURE, condense_output, split_lines
from paas.domain.logs import OutputSource
from paas.domain.ports import RouteTags
from paas.domain.scheduler import (
    CONTAINER_PORT,
    AppPlan,
    AttachedRun,
    CheckResult,
    Instance,
    InstanceReport,
    LogSink,
    ProcessPlan,
    instance_label,
)

from . import docker_logs, docker_run, docker_spec, probe
from .docker_spec import LABEL, Limits

# The Consul check Traefik routes by; promotion is decided on the controller's own probes.
CHECK_INTERVAL = "2s"  # live instances; canaries have the controller's probe (CANARY_CHECK_TTL)
CANARY_CHECK_TTL = "30s"  # passed at every observation while the canary's probe passes
PROBE_TIMEOUT = 2.0
LAST_LINES = 20
# A followed log stream yields "" this often when nothing was written: the API turns it into a
# keep-alive write, which is how it notices a client that went away (paas/api/streaming.py).
HEARTBEAT = 1.0
# An instance restarted by Docker within this long counts as crashed (a crash loop), not passing.
CRASH_WINDOW = 60.0
log = logging.getLogger(__name__)


class RunTimedOut(PaasError):
    """A one-off run outlived PAAS_RUN_TIMEOUT and was killed."""


def _labels(container: Container) -> dict[str, str]:
    return container.labels or {}


def _label(container: Container, name: str) -> str:
    return _labels(container).get(f"{LABEL}.{name}", "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_PORT_METHODS = ("start", "observe", "promote", "unroute", "retire", "discard", "reconcile", "destroy", "apps",
                 "instances", "run", "attach", "run_detached")


def _translating_errors(cls):
    """Docker and Consul-agent failures leave the adapter as SchedulerUnavailable."""
    for name in _PORT_METHODS:
        method = getattr(cls, name)

        def wrapper(self, *args, __method=method, **kwargs):
            try:
                return __method(self, *args, **kwargs)
            except (docker.errors.DockerException, requests.RequestException, consul.ConsulException) as exc:
                raise SchedulerUnavailable(f"Docker scheduler: {_first_line(exc)}") from None

        wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
        setattr(cls, name, wrapper)
    return cls


@_translating_errors
class DockerScheduler:
    def __init__(self, settings: Settings, agent: consul.Consul, tags: RouteTags,
                 client: docker.DockerClient | None = None):
        self.settings = settings
        self.agent = agent
        self.tags = tags
        self._client = client
        self._users: dict[str, str] = {}  # image id -> the user its containers run as
        self._stopping: set[str] = set()  # containers a background stop is under way for
        self._stopping_lock = threading.Lock()
        self._network_lock = threading.Lock()
        self._last_exit: dict[str, int] = {}  # container -> exit code of its last crash seen
        self._events: queue.Queue[str] = queue.Queue()  # apps whose containers died or vanished
        self._events_thread: threading.Thread | None = None
        # Called with a one-off run's output source before its container is removed (wiring:
        # the log collector keeps its output, which a run of a moment would otherwise lose).
        self.before_removing_run: Callable[[OutputSource], None] | None = None
        self.limits = Limits(user=settings.app_user, memory=settings.default_memory, cpu=settings.default_cpu,
                             cpu_burst=settings.cpu_burst, pids=settings.pids_limit)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.settings.docker_host) \
                if self.settings.docker_host else docker.from_env()
        return self._client

    @property
    def platform(self) -> str:
        """Containers carry the KV prefix: platforms sharing one Docker engine never touch each
        other's containers (tests run several side by side)."""
        return self.settings.kv_prefix

    # ------------------------------------------------------------------ containers
    def containers(self, app: str, **labels: str) -> list[Container]:
        """The app's instances (of these labels). ignore_removed: the SDK inspects each listed
        container, and a background stop may remove one in between."""
        filters = [f"{LABEL}.app={app}", f"{LABEL}.role=instance", f"{LABEL}.platform={self.platform}"]
        filters += [f"{LABEL}.{k}={v}" for k, v in labels.items()]
        return self.client.containers.list(all=True, filters={"label": filters}, ignore_removed=True)

    def _start_instance(self, plan: AppPlan, process: ProcessPlan, deployment_id: str, canary: bool) -> Container:
        image = self._ensure_image(plan.image)
        spec = docker_spec.instance_spec(
            plan, process, platform=self.platform, name=names.instance_container(plan.app, process.type, plan.release),
            deployment_id=deployment_id, host_port=_free_port() if process.is_web else None,
            network=self._ensure_network(plan.app), user=self._user(image), launcher=_launcher(image),
            limits=self.limits, restart=not canary)
        container = self.client.containers.run(**spec)
        self._register(container, plan, process, canary)
        return container

    def _ensure_image(self, image: str):
        try:
            return self.client.images.get(image)
        except docker.errors.ImageNotFound:
            auth = None
            if self.settings.registry_username and self.settings.registry_password:
                # Only the platform pulls from its registry (htpasswd); the SDK hands these to
                # dockerd (X-Registry-Auth), never to a container, a label or a log line.
                auth = {"username": self.settings.registry_username, "password": self.settings.registry_password}
            return self.client.images.pull(image, auth_config=auth)

    def _user(self, image) -> str:
        """The image's non-root USER, else PAAS_APP_USER (docker_spec.run_user); a named USER is
        resolved through the image's own /etc/passwd and /etc/group, once per image."""
        cached = self._users.get(image.id)
        if cached is not None:
            return cached
        configured = (image.attrs.get("Config") or {}).get("User") or ""
        passwd = group = ""
        if configured and not all(part.isdigit() for part in configured.split(":")):
            passwd, group = self._read_files(image, "/etc/passwd", "/etc/group")
        user = docker_spec.run_user(configured, self.settings.app_user, passwd, group)
        self._users[image.id] = user
        return user

    def _read_files(self, image, *paths: str) -> list[str]:
        """Regular files of an image, read through a created (never started) container; a
        symlink or anything else reads as empty (and so names no user)."""
        container = self.client.containers.create(
            image.id, command=["true"], entrypoint=[], network_mode="none",
            labels={f"{LABEL}.platform": self.platform, f"{LABEL}.role": "probe"})
        try:
            texts = []
            for path in paths:
                try:
                    chunks, _ = container.get_archive(path)
                except docker.errors.NotFound:
                    texts.append("")
                    continue
                with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
                    member = next(iter(tar.getmembers()), None)
                    handle = tar.extractfile(member) if member is not None and member.isreg() else None
                    texts.append(handle.read(1024 * 1024).decode("utf-8", "replace") if handle else "")
            return texts
        finally:
            container.remove(force=True)

    # ------------------------------------------------------------------ networks
    def _network_filters(self, app: str | None = None) -> dict:
        labels = [f"{LABEL}.platform={self.platform}", f"{LABEL}.role=network"]
        return {"label": labels + ([f"{LABEL}.app={app}"] if app else [])}

    def _app_networks(self, app: str) -> list:
        name = names.app_network(self.platform, app)
        return [n for n in self.client.networks.list(names=[name], filters=self._network_filters(app))
                if n.name == name]

    def _ensure_network(self, app: str) -> str:
        """The id of the app's own bridge network, created at its first container. Two controller
        workers may create it at once ("already exists" is success; Docker 20.10 may even keep
        both): all then use the same one (docker_spec.winner) and drop the other."""
        with self._network_lock:  # this process's own parallel starts create it once
            found = self._app_networks(app)
            if not found:
                try:
                    self.client.networks.create(**docker_spec.network_spec(self.platform, app))
                except docker.errors.APIError as exc:
                    # Another process won: "already exists" (409), or its bridge already carries
                    # the app's bridge name (403 "conflicts with network").
                    if exc.status_code not in (403, 409) and "already exists" not in str(exc):
                        raise
                found = self._app_networks(app)
            if not found:
                raise SchedulerUnavailable(f"Docker scheduler: the network of {app} vanished while it was created")
        keep = docker_spec.winner([n.id for n in found])
        for network in found:
            if network.id != keep:
                try:
                    network.remove()
                except docker.errors.APIError:
                    pass  # the other worker removed it first, or put a container on it: harmless
        return keep

    def _remove_networks(self, app: str) -> None:
        for network in self.client.networks.list(filters=self._network_filters(app)):
            try:
                network.remove()
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                # Still in use (a container another worker started a moment ago): apps() lists
                # the app while its network exists, so the supervisor's sweep removes both later.
                log.warning("docker scheduler: network of %s not removed yet: %s", app, _first_line(exc))


    # ------------------------------------------------------------------ registrations
    def _register(self, container: Container, plan: AppPlan, process: ProcessPlan, canary: bool,
                  passing: bool = False) -> None:
        meta = {"app": plan.app, "release": str(plan.release), "type": process.type,
                "canary": str(canary).lower(), "platform": self.platform,
                "deployment": _label(container, "deployment")}
        address = _bridge_ip(container)
        if address is None:
            return  # it ended before it could be registered: the reconcile replaces it
        if not process.is_web:
            # Workers listen on nothing: in the catalog without a port, a check or router tags;
            # their health is "running for min_healthy_time".
            self.agent.agent.service.register(names.service(plan.app, process.type), service_id=container.name,
                                              address=address, tags=self.tags.unrouted(plan, canary), meta=meta)
            return
        # Routers and checks reach the container on its bridge address, not through the published
        # loopback port: docker-proxy accepts connections before the app listens, which would make
        # a TCP check pass early and route requests into a refused connection (HTTP 502).
        if canary:
            # A canary's Consul check is the controller's own probe (a TTL it passes, see
            # observe): Consul runs its first HTTP check up to a whole interval after
            # registration, and the router routes a promoted instance only once Consul says
            # passing. At promotion the HTTP check replaces it and keeps its passing status.
            check = {"TTL": CANARY_CHECK_TTL}
        elif process.healthcheck:
            check = {"HTTP": f"http://{address}:{CONTAINER_PORT}{process.healthcheck}", "Interval": CHECK_INTERVAL,
                     "Timeout": "2s"}
        else:
            check = {"TCP": f"{address}:{CONTAINER_PORT}", "Interval": CHECK_INTERVAL, "Timeout": "2s"}
        if passing:
            check["Status"] = "passing"
        tags = self.tags.canary(plan) if canary else self.tags.live(plan)
        self.agent.agent.service.register(names.service(plan.app, process.type), service_id=container.name,
                                          address=address, port=CONTAINER_PORT, tags=tags, check=check, meta=meta)

    def _pass_canary_check(self, service_id: str) -> None:
        try:
            self.agent.agent.check.ttl_pass(f"service:{service_id}")
        except consul.ConsulException as exc:
            # Not (yet) registered, or registered before canaries had TTL checks: the check of
            # the live registration decides at promotion instead.
            log.info("canary check of %s: %s", service_id, _first_line(exc))

    def _registrations(self, app: str | None = None) -> dict[str, dict]:
        """service id -> service of this platform's instances (of one app) in the local agent."""
        found = {}
        for service_id, service in self.agent.agent.services().items():
            meta = service.get("Meta") or {}
            if meta.get("platform") == self.platform and (app is None or meta.get("app") == app):
                found[service_id] = service
        return found

    def _deregister(self, service_id: str) -> None:
        try:
            self.agent.agent.service.deregister(service_id)
        except consul.ConsulException as exc:
            # With ACLs on, Consul answers 500 "Unknown service" for an id it does not hold (dev
            # mode answered 200): already gone is what we wanted.
            if "Unknown service" not in str(exc):
                raise

    def _checks(self) -> dict[str, str]:
        """service id -> check status, for every service of the local agent."""
        return {c["ServiceID"]: c["Status"] for c in self.agent.agent.checks().values() if c.get("ServiceID")}

    # ------------------------------------------------------------------ stopping
    def _stop_in_background(self, containers: list[Container], timeout: float, delay: float = 0.0) -> None:
        """SIGTERM, SIGKILL after `timeout` (Docker's stop), then remove; after `delay` (to let
        routers drop them first). Each container once, however often it is asked."""
        for container in containers:
            with self._stopping_lock:
                if container.name in self._stopping:
                    continue
                self._stopping.add(container.name)
            threading.Thread(target=self._stop_one, args=(container, timeout, delay),
                             name=f"paas-stop-{container.name}", daemon=True).start()

    def _stop_one(self, container: Container, timeout: float, delay: float) -> None:
        try:
            if delay:
                time.sleep(delay)  # a drain period in this background thread, not on any caller's path
            self._stop_now(container, timeout)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            log.warning("docker scheduler: stopping %s: %s (retried at the next reconcile)",
                        container.name, _first_line(exc))
        finally:
            with self._stopping_lock:
                self._stopping.discard(container.name)

    @staticmethod
    def _stop_now(container: Container, timeout: float) -> None:
        try:
            container.stop(timeout=max(0, round(timeout)))
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # 409 "removal already in progress": another worker is removing it; that is gone too.
            if exc.status_code != 409:
                raise

    def _stop_all(self, containers: list[Container], timeout: float) -> None:
        """Stop and remove now, in parallel (destroy)."""
        if containers:
            with ThreadPoolExecutor(max_workers=min(8, len(containers))) as pool:
                list(pool.map(lambda c: self._stop_now(c, timeout), containers))

    # ------------------------------------------------------------------ the port
    def start(self, plan: AppPlan, deployment_id: str) -> None:
        try:
            self._ensure_image(plan.image)
        except docker.errors.DockerException as exc:
            raise StartFailed(f"Could not start v{plan.release}: {_first_line(exc)}") from None
        self._ensure_network(plan.app)
        # Top up: a start resumed after a controller crash places only what is missing.
        placed = [_label(c, "type") for c in self.containers(plan.app, deployment=deployment_id)]
        wanted = [p for p in plan.processes for _ in range(max(0, p.quantity - placed.count(p.type)))]
        if not wanted:
            return
        # In parallel: a rollout of N instances takes about one container start, not N.
        with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
            futures = [pool.submit(self._start_instance, plan, p, deployment_id, True) for p in wanted]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            first = errors[0]
            if isinstance(first, docker.errors.DockerException):
                raise StartFailed(f"Could not start v{plan.release}: {_first_line(first)}")
            raise first

    def observe(self, plan: AppPlan, deployment_id: str) -> list[InstanceReport]:
        canaries = self.containers(plan.app, deployment=deployment_id)
        reports = []
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(canaries)))) as pool:
            reports = list(pool.map(lambda c: self._report(c, plan), canaries))
        present = {c.name for c in canaries}
        for service_id, service in self._registrations(plan.app).items():
            meta = service.get("Meta") or {}
            if meta.get("deployment") == deployment_id and service_id not in present:
                # Registered, but its container is gone: removed outside the platform.
                self._deregister(service_id)
                reports.append(InstanceReport(id=service_id, type=meta.get("type", "?"), release=plan.release,
                                              state="dead", last_lines=["(the container was removed)"]))
        return reports

    def _report(self, container: Container, plan: AppPlan) -> InstanceReport:
        try:
            container.reload()
        except docker.errors.NotFound:
            return InstanceReport(id=container.name, type=_label(container, "type"), release=plan.release,
                                  state="dead", last_lines=["(the container was removed)"])
        state = container.attrs.get("State", {})
        process_type = _label(container, "type")
        process = plan.process(process_type)
        status = state.get("Status", "")
        restarts = int(container.attrs.get("RestartCount", 0) or 0)
        ended = status in ("exited", "dead") or restarts > 0 or state.get("OOMKilled")
        check = None
        address = _bridge_ip(container, reload=False) if process is not None and process.is_web else None
        if status == "running" and not ended and process is not None and process.is_web:
            check = probe.probe(f"{address}:{CONTAINER_PORT}", process.healthcheck, PROBE_TIMEOUT) if address \
                else CheckResult(passing=False, detail="no address on the app's network yet")
            if check.passing:
                self._pass_canary_check(container.name)
        lines = _tail(container, LAST_LINES) if ended or (check is not None and not check.passing) else []
        return InstanceReport(
            id=container.name, type=process_type, release=int(_label(container, "release") or 0),
            state="running" if status == "running" else ("starting" if status in ("created", "restarting") and
                                                          not restarts else status),
            exit_code=state.get("ExitCode") if ended else None, oom_killed=bool(state.get("OOMKilled")),
            restarts=restarts, check=check, last_lines=lines,
            address=f"{address}:{CONTAINER_PORT}" if address else None)

    def promote(self, plan: AppPlan, deployment_id: str) -> None:
        mine = self.containers(plan.app, deployment=deployment_id)
        for container in mine:
            process = plan.process(_label(container, "type"))
            if process is None:
                continue
            # Live instances restart on failure; the check is known good (the canary passed).
            container.update(restart_policy=docker_spec.LIVE_RESTART_POLICY)
            self._register(container, plan, process, canary=False, passing=True)

    def unroute(self, plan: AppPlan, keep: set[str]) -> None:
        kept = {c.name for c in self.containers(plan.app) if _label(c, "deployment") in keep}
        for service_id in self._registrations(plan.app):
            if service_id not in kept:
                self._deregister(service_id)

    def retire(self, plan: AppPlan, keep: set[str]) -> int:
        others = [c for c in self.containers(plan.app) if _label(c, "deployment") not in keep]
        for container in others:
            self._deregister(container.name)
        self._stop_in_background(others, plan.update.stop_timeout)
        return len(others)

    def discard(self, plan: AppPlan, deployment_id: str) -> None:
        canaries = self.containers(plan.app, deployment=deployment_id)
        for container in canaries:
            self._deregister(container.name)
        self._stop_in_background(canaries, min(plan.update.stop_timeout, 2))

    def reconcile(self, plan: AppPlan, deployment_id: str, keep: set[str]) -> None:
        """Make the live deployment's instances match the plan; deregister what is gone; stop what
        belongs to no deployment in `keep`."""
        checks = self._checks()
        registered = self._registrations(plan.app)
        containers = self.containers(plan.app)
        stopping = set(self._stopping)
        live_tags = sorted(self.tags.live(plan))
        surplus: list[Container] = []
        for process in plan.processes:
            mine = [c for c in containers if _label(c, "deployment") == deployment_id
                    and _label(c, "type") == process.type and c.name not in stopping]
            alive = []
            for container in mine:
                try:
                    if self._reconcile_one(container, plan, process, registered, checks, live_tags):
                        alive.append(container)
                except docker.errors.NotFound:
                    continue  # removed meanwhile: replaced below, its registration goes at the end
            for _ in range(process.quantity - len(alive)):
                self._start_instance(plan, process, deployment_id, canary=False)
            surplus += alive[process.quantity:]
        self._remove_strays(plan, deployment_id, keep, containers, surplus, stopping, registered)

    def _reconcile_one(self, container: Container, plan: AppPlan, process: ProcessPlan, registered: dict,
                       checks: dict[str, str], live_tags: list[str]) -> bool:
        """Keep one instance of the live deployment registered as it should be; False if it
        ended (then it is deregistered and removed, to be replaced)."""
        if container.status in ("exited", "dead", "created"):
            self._remember_exit(container)
            self._deregister(container.name)
            self._stop_in_background([container], 1)
            return False
        if container.status == "restarting":
            self._remember_exit(container)
        service = registered.get(container.name)
        if service is None:
            self._register(container, plan, process, canary=False)  # e.g. Consul restarted
        elif process.is_web and (sorted(service.get("Tags") or []), service.get("Address")) != (
                live_tags, _bridge_ip(container)):
            # Routing changed (domains:add/remove) or a restart moved the container: re-register
            # in place; the check keeps its status.
            self._register(container, plan, process, canary=False, passing=checks.get(container.name) == "passing")
        return True

    def _remove_strays(self, plan: AppPlan, deployment_id: str, keep: set[str], containers: list[Container],
                       surplus: list[Container], stopping: set[str], registered: dict) -> None:
        """Stop the surplus (after drain_time) and what belongs to no deployment in `keep`; drop
        registrations whose container is gone, so the catalog holds exactly what exists."""
        known_types = {p.type for p in plan.processes}
        orphans = [c for c in containers if c.name not in stopping and (
            _label(c, "deployment") not in keep | {deployment_id}
            or (_label(c, "deployment") == deployment_id and _label(c, "type") not in known_types))]
        for container in surplus + orphans:
            self._deregister(container.name)
        self._stop_in_background(surplus, plan.update.stop_timeout, delay=plan.update.drain_time)
        self._stop_in_background(orphans, plan.update.stop_timeout)
        existing = {c.name for c in containers}
        for service_id in registered:
            if service_id not in existing:
                self._deregister(service_id)
        self._expire_runs(plan.app)

    def _remember_exit(self, container: Container) -> None:
        code = container.attrs.get("State", {}).get("ExitCode")
        if code:
            self._last_exit[container.name] = int(code)

    def destroy(self, app: str) -> None:
        # Twice, a moment apart: a supervisor step that began before the app's keys were deleted
        # may still start or register an instance; the second pass removes it. Everything here is
        # this platform's only: containers by label, registrations by Meta platform.
        for attempt in range(2):
            containers = self.containers(app)
            for service_id in self._registrations(app):
                self._deregister(service_id)
            self._stop_all(containers + self._runs(app), 5)
            if attempt == 0:
                time.sleep(0.5)
        self._remove_networks(app)  # after its containers: Docker refuses to remove a network in use
        for container in containers:
            self._last_exit.pop(container.name, None)

    def instances(self, app: str) -> list[Instance]:
        checks = self._checks()
        registered = self._registrations(app)
        now = time.time()
        result = []
        for container in self.containers(app):
            state = container.attrs.get("State", {})
            restarts = int(container.attrs.get("RestartCount", 0) or 0)
            meta = (registered.get(container.name) or {}).get("Meta") or {}
            port = _label(container, "port")
            status = container.status
            if status == "restarting" or state.get("ExitCode"):
                self._remember_exit(container)
            crashed = status == "restarting" or (restarts > 0 and now - _epoch(state.get("StartedAt")) < CRASH_WINDOW)
            health = checks.get(container.name, "passing" if status == "running" and not port else "unknown")
            result.append(Instance(
                id=container.name, app=app, release=int(_label(container, "release") or 0),
                type=_label(container, "type"), state="crashed" if crashed else status,
                health="critical" if crashed else health,
                address=f"127.0.0.1:{port}" if port else None, canary=meta.get("canary") == "true",
                started_at=state.get("StartedAt"), restarts=restarts,
                exit_code=self._last_exit.get(container.name) if restarts or status != "running" else None,
            ))
        return sorted(result, key=lambda i: (i.type, i.release, i.id))

    def preview(self, plan: AppPlan) -> str:
        """The container specs (Docker Engine API kwargs) one instance of each type would get."""
        specs = []
        for process in plan.processes:
            specs.append(docker_spec.instance_spec(
                plan, process, platform=self.platform, name=f"paas-{plan.app}-{process.type}-v{plan.release}-<id>",
                deployment_id="<deployment>", host_port=0 if process.is_web else None,
                network=names.app_network(self.platform, plan.app), user=self.settings.app_user,
                launcher=True, limits=self.limits, restart=True))
        return json.dumps(specs, indent=2, sort_keys=True, default=str) + "\n"

    def _runs(self, app: str) -> list[Container]:
        return self.client.containers.list(all=True, ignore_removed=True, filters={"label": [
            f"{LABEL}.app={app}", f"{LABEL}.role=run", f"{LABEL}.platform={self.platform}"]})

    def _expire_runs(self, app: str) -> None:
        """One-off runs past their deadline whose controller is gone (killed, restarted): the
        controller that ran them would have killed them itself."""
        now = time.time()
        for container in self._runs(app):
            deadline = _labels(container).get(f"{LABEL}.deadline", "")
            if deadline.replace(".", "", 1).isdigit() and float(deadline) + 10 < now:
                log.info("docker scheduler: removing one-off run %s past its deadline", container.name)
                self._stop_in_background([container], 1)


    def instance_events(self, timeout: float) -> set[str] | None:
        """Apps whose instances died or were removed, from the engine's event stream (read by a
        thread of its own that reconnects when the engine restarts)."""
        if self._events_thread is None:
            self._events_thread = threading.Thread(target=self._follow_events, name="paas-docker-events",
                                                   daemon=True)
            self._events_thread.start()
        try:
            found = {self._events.get(timeout=timeout)}
        except queue.Empty:
            return set()
        while True:
            try:
                found.add(self._events.get_nowait())
            except queue.Empty:
                return found

    def _follow_events(self) -> None:
        filters = {"type": "container", "event": ["die", "destroy", "oom"],
                   "label": [f"{LABEL}.platform={self.platform}", f"{LABEL}.role=instance"]}
        while True:
            try:
                for event in self.client.events(decode=True, filters=filters):
                    app = (event.get("Actor", {}).get("Attributes") or {}).get(f"{LABEL}.app")
                    if app and (event.get("Actor", {}).get("Attributes") or {}).get("name") not in self._stopping:
                        self._events.put(app)
            except (docker.errors.DockerException, requests.RequestException) as exc:
                log.info("docker scheduler: the event stream ended (%s); reconnecting", _first_line(exc))
            # The engine went away (restart): every app is looked at once it is back.
            self._events.put("*")
            time.sleep(1.0)  # not on any deploy's path: this thread only waits for the engine

    def apps(self) -> set[str]:
        """Apps of this platform with a container (instance or run) or a network left."""
        found = self.client.containers.list(all=True, ignore_removed=True, filters={"label": [f"{LABEL}.platform={self.platform}"]})
        names = {_labels(c).get(f"{LABEL}.app", "") for c in found
                 if _labels(c).get(f"{LABEL}.role") in ("instance", "run")}
        names |= {(n.attrs.get("Labels") or {}).get(f"{LABEL}.app", "")
                  for n in self.client.networks.list(filters=self._network_filters())}
        return names - {""}

    def logs(self, app: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        """Lines prefixed with type.instance; followed, also "" every HEARTBEAT seconds of quiet.
        Closing the iterator (the client went away) closes the Docker log streams, which ends
        their reader threads."""
        selected = [c for c in self.containers(app)
                    if process_type is None or _labels(c).get(f"{LABEL}.type") == process_type]
        if not follow:
            for container in selected:
                prefix = _prefix(container)
                for line in _tail(container, tail):
                    yield f"{prefix} {line}"
            return
        lines: queue.Queue = queue.Queue()
        streams = [(container, container.logs(stream=True, follow=True, tail=tail)) for container in selected]

        def pump(container: Container, stream) -> None:
            prefix = _prefix(container)
            try:
                for line in split_lines(stream):
                    lines.put(f"{prefix} {line}")
            except (docker.errors.DockerException, requests.RequestException, OSError, ValueError):
                pass  # closed under us (the client left) or the container went away

        readers = [threading.Thread(target=pump, args=pair, name="paas-logs", daemon=True) for pair in streams]
        for reader in readers:
            reader.start()
        try:
            while True:
                try:
                    yield lines.get(timeout=HEARTBEAT)
                except queue.Empty:
                    yield ""
        finally:
            for _, stream in streams:
                try:
                    stream.close()
                except (OSError, AttributeError, ValueError):
                    pass  # already closed
            for reader in readers:
                reader.join(timeout=5)

    def run(self, plan: AppPlan, command: str, sink: LogSink, cancel: threading.Event | None = None) -> int:
        """A one-off container on the app's network, unprivileged; killed and removed when
        `cancel` is set (the client went away) or after PAAS_RUN_TIMEOUT, whichever is first."""
        image = self._ensure_image(plan.image)
        timeout = self.settings.run_timeout
        spec = docker_spec.run_spec(
            plan, command, platform=self.platform, name=names.run_container(plan.app),
            network=self._ensure_network(plan.app), user=self._user(image), launcher=_launcher(image),
            limits=self.limits, deadline=time.time() + timeout)
        container = self.client.containers.create(**spec)
        cancel = cancel or threading.Event()
        finished = threading.Event()
        outcome: dict[str, str] = {}

        def watch() -> None:
            deadline = time.monotonic() + timeout
            while not finished.wait(0.2):
                expired = time.monotonic() >= deadline
                if cancel.is_set() or expired:
                    outcome["stopped"] = "timeout" if expired and not cancel.is_set() else "cancelled"
                    try:
                        container.kill()  # the log stream below ends with the container
                    except docker.errors.APIError:
                        pass  # it ended by itself meanwhile
                    return

        watcher = threading.Thread(target=watch, name="paas-run-watch", daemon=True)
        started = False
        try:
            container.start()
            started = True
            watcher.start()
            for line in split_lines(container.logs(stream=True, follow=True)):
                sink(line)
            code = int(container.wait().get("StatusCode", 1))
        finally:
            finished.set()
            try:
                if started:
                    self._keep_run_output(container)
            finally:
                container.remove(force=True)
        if outcome.get("stopped") == "timeout":
            raise RunTimedOut(f"The command ran longer than {timeout:g}s (PAAS_RUN_TIMEOUT) and was killed")
        return code


    def attach(self, plan: AppPlan, command: str, tty: bool, size: tuple[int, int] | None) -> AttachedRun:
        """A one-off container with stdin (and a terminal), attached to: scheduler/docker_run.py."""
        spec = self._one_off_spec(plan, command, stdin=True, tty=tty)
        return docker_run.attach(self.client, spec, size if tty else None, self.settings.run_timeout,
                                 before_removing=self._keep_run_output)

    def _keep_run_output(self, container: Container) -> None:
        """Hand a one-off run's output to `before_removing_run` before the container goes."""
        if self.before_removing_run is None:
            return
        source = docker_logs.source_of(container.id, container.name, _labels(container), self.platform)
        if source is not None:
            self.before_removing_run(source)

    def run_detached(self, plan: AppPlan, command: str) -> str:
        return docker_run.start_detached(self.client, self._one_off_spec(plan, command))

    def _one_off_spec(self, plan: AppPlan, command: str, **kwargs: bool) -> dict:
        try:
            image = self._ensure_image(plan.image)
        except docker.errors.APIError as exc:
            # The engine answered: the release's image cannot be had (not found, refused, its
            # registry unreachable from the engine). The app's state, not the platform's.
            raise Conflict(f"Could not start a run of v{plan.release}: its image cannot be pulled: "
                           f"{_first_line(exc)}") from None
        return docker_spec.run_spec(
            plan, command, platform=self.platform, name=names.run_container(plan.app),
            network=self._ensure_network(plan.app), user=self._user(image), launcher=_launcher(image),
            limits=self.limits, deadline=time.time() + self.settings.run_timeout, **kwargs)


def _launcher(image) -> bool:
    return bool((image.labels or {}).get("paas.launcher"))


def _bridge_ip(container: Container, reload: bool = True) -> str | None:
    """The container's address on its app's network (where the host's checks and Traefik reach
    it); the platform's containers are on that network only. None when it has none (it exited):
    never a guess such as 127.0.0.1, where a probe would reach the host's own services."""
    if reload:
        container.reload()
    labels = _labels(container)
    networks = container.attrs.get("NetworkSettings", {}).get("Networks", {})
    own = networks.get(names.app_network(labels.get(f"{LABEL}.platform", ""), labels.get(f"{LABEL}.app", "")))
    return own["IPAddress"] if own and own.get("IPAddress") else None


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _prefix(container: Container) -> str:
    return instance_label(_label(container, "type") or "?", container.name)



def _tail(container: Container, lines: int) -> list[str]:
    try:
        raw = container.logs(tail=FETCH_FOR_FAILURE, timestamps=False)
    except docker.errors.DockerException:
        return []
    return condense_output(list(split_lines([raw])), lines)


def _epoch(iso: str | None) -> float:
    """Docker's StartedAt (RFC 3339 with nanoseconds) as epoch seconds; 0 when unknown."""
    if not iso or iso.startswith("0001-"):
        return 0.0
    try:
        return datetime.fromisoformat(iso[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return 0.0
