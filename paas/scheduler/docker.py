"""The single-host scheduler: containers through the Docker Engine API, instances registered in
the local Consul agent, and Nomad's canary-then-promote semantics implemented here.

State: the containers themselves (labels say app, release, type, deployment) plus one record
per app in Consul KV (the current deployment and its plan), so a restarted controller resumes."""

from __future__ import annotations

import io
import logging
import queue
import secrets
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict

import consul
import docker
import docker.errors
import requests
from docker.models.containers import Container

from paas.config import Settings
from paas.domain.clock import now_iso
from paas.domain.errors import NotFound, PaasError, SchedulerUnavailable, ValidationError
from paas.domain.scheduler import (
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
    UpdatePolicy,
)
from paas.router.tags import (
    CANARY_TAG,
    LIVE_TAG,
    PLATFORM_TAG,
    app_hosts,
    canary_tags,
    live_tags,
    release_tag,
    service_name,
)
from paas.store.kv import ConsulKV, Op

from . import docker_spec
from .docker_spec import LABEL, Limits

CHECK_INTERVAL = "500ms"
# A followed log stream yields "" this often when nothing was written: the API turns it into a
# keep-alive write, which is how it notices a client that went away (paas/api/streaming.py).
HEARTBEAT = 1.0
log = logging.getLogger(__name__)


class RunTimedOut(PaasError):
    """A one-off run outlived PAAS_RUN_TIMEOUT and was killed."""


def _labels(container: Container) -> dict[str, str]:
    return container.labels or {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def plan_from_dict(data: dict) -> AppPlan:
    processes = [ProcessPlan(**p) for p in data["processes"]]
    update = UpdatePolicy(**data["update"])
    return AppPlan(**{**data, "processes": processes, "update": update})


def _translating_errors(cls):
    """Docker and Consul-agent failures leave the adapter as SchedulerUnavailable."""
    for name in ("deploy", "deployment", "promote", "fail", "reconcile", "scale", "destroy", "apps", "instances", "run"):
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
    def __init__(self, settings: Settings, kv: ConsulKV, agent: consul.Consul,
                 client: docker.DockerClient | None = None):
        self.settings = settings
        self.kv = kv
        self.agent = agent
        self._client = client
        # When each instance was first seen passing; lost on restart, which only delays promotion.
        self._passing_since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._users: dict[str, str] = {}  # image id -> the user its containers run as
        self.limits = Limits(user=settings.app_user, memory=settings.default_memory, cpu=settings.default_cpu,
                             pids=settings.pids_limit)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.settings.docker_host) \
                if self.settings.docker_host else docker.from_env()
        return self._client

    # ------------------------------------------------------------------ records
    def _record_key(self, app: str) -> str:
        return self.kv.key("scheduler", "docker", app)

    def _load(self, app: str) -> dict | None:
        entry = self.kv.get(self._record_key(app))
        return entry.value if entry else None

    def _save(self, app: str, record: dict) -> None:
        record["deployment"]["updated_at"] = now_iso()
        self.kv.txn([Op.set(self._record_key(app), record)])

    # ------------------------------------------------------------------ containers
    @property
    def platform(self) -> str:
        """Containers carry the KV prefix: platforms sharing one Docker engine never touch each
        other's containers (tests run several side by side)."""
        return self.kv.prefix

    def containers(self, app: str, **labels: str) -> list[Container]:
        filters = [f"{LABEL}.app={app}", f"{LABEL}.role=instance", f"{LABEL}.platform={self.platform}"]
        filters += [f"{LABEL}.{k}={v}" for k, v in labels.items()]
        return self.client.containers.list(all=True, filters={"label": filters})

    def _start(self, plan: AppPlan, process: ProcessPlan, deployment_id: str, canary: bool) -> Container:
        name = f"paas-{plan.app}-{process.type}-v{plan.release}-{secrets.token_hex(3)}"
        image = self._ensure_image(plan.image)
        network = self._ensure_network(plan.app)
        spec = docker_spec.instance_spec(
            plan, process, platform=self.platform, name=name, deployment_id=deployment_id,
            host_port=_free_port() if process.is_web else None, network=network,
            user=self._user(image), launcher=_launcher(image), limits=self.limits)
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
        name = docker_spec.network_name(self.platform, app)
        return [n for n in self.client.networks.list(names=[name], filters=self._network_filters(app))
                if n.name == name]

    def _ensure_network(self, app: str) -> str:
        """The id of the app's own bridge network, created at its first container. Two controller
        workers may create it at once ("already exists" is success; Docker 20.10 may even keep
        both): all then use the same one (docker_spec.winner) and drop the other."""
        found = self._app_networks(app)
        if not found:
            try:
                self.client.networks.create(**docker_spec.network_spec(self.platform, app))
            except docker.errors.APIError as exc:
                if exc.status_code != 409 and "already exists" not in str(exc):
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

    def _tags(self, plan: AppPlan, canary: bool) -> list[str]:
        if canary:
            return canary_tags(plan.app, plan.release)
        hosts = app_hosts(plan.app, plan.domains, self.settings.platform_domain)
        return live_tags(plan.app, plan.release, hosts, force_tls=plan.force_tls, https_port=self.settings.https_port)

    def _register(self, container: Container, plan: AppPlan, process: ProcessPlan, canary: bool,
                  passing: bool = False) -> None:
        meta = {"app": plan.app, "release": str(plan.release), "type": process.type,
                "canary": str(canary).lower(), "platform": self.platform}
        if not process.is_web:
            # Workers listen on nothing: in the catalog without a port, a check or router tags;
            # their health is "running for min_healthy_time".
            tags = [PLATFORM_TAG, release_tag(plan.release), CANARY_TAG if canary else LIVE_TAG]
            self.agent.agent.service.register(service_name(plan.app, process.type), service_id=container.name,
                                              address=_bridge_ip(container), tags=tags, meta=meta)
            return
        # Routers and checks reach the container on its bridge address, not through the published
        # loopback port: docker-proxy accepts connections before the app listens, which would make
        # a TCP check pass early and route requests into a refused connection (HTTP 502).
        address, port = _bridge_ip(container), CONTAINER_PORT
        tags = self._tags(plan, canary)
        if process.healthcheck:
            check = {"HTTP": f"http://{address}:{port}{process.healthcheck}", "Interval": CHECK_INTERVAL,
                     "Timeout": "2s"}
        else:
            check = {"TCP": f"{address}:{port}", "Interval": CHECK_INTERVAL, "Timeout": "2s"}
        if passing:
            check["Status"] = "passing"
        self.agent.agent.service.register(
            service_name(plan.app, process.type), service_id=container.name, address=address, port=port, tags=tags,
            check=check, meta=meta,
        )

    def _deregister(self, container: Container) -> None:
        try:
            self.agent.agent.service.deregister(container.name)
        except consul.ConsulException as exc:
            # With ACLs on, Consul answers 500 "Unknown service" for an id it does not hold (dev
            # mode answered 200): already gone is what we wanted.
            if "Unknown service" not in str(exc):
                raise
        self._passing_since.pop(container.name, None)

    def _stop(self, containers: list[Container], timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout`; in parallel so a retirement takes one grace period."""
        def stop(container: Container) -> None:
            try:
                container.stop(timeout=int(timeout))
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                # 409 "removal already in progress": another worker is removing it; that is gone too.
                if exc.status_code != 409:
                    raise

        threads = [threading.Thread(target=stop, args=(c,)) for c in containers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _checks(self) -> dict[str, str]:
        """service id -> check status, for every service of the local agent."""
        return {c["ServiceID"]: c["Status"] for c in self.agent.agent.checks().values() if c.get("ServiceID")}

    def _healthy(self, container: Container, process: ProcessPlan, policy: UpdatePolicy,
                 checks: dict[str, str]) -> bool | None:
        """True once healthy for min_healthy_time; False if it died; None while undecided."""
        container.reload()
        state = container.attrs["State"]
        if state.get("Status") in ("exited", "dead") or container.attrs.get("RestartCount", 0) > 0:
            return False
        if state.get("Status") != "running":
            return None
        ok = checks.get(container.name) == "passing" if process.is_web else True
        now = time.monotonic()
        with self._lock:
            if not ok:
                self._passing_since.pop(container.name, None)
                return None
            since = self._passing_since.setdefault(container.name, now)
        return True if now - since >= policy.min_healthy_time else None

    # ------------------------------------------------------------------ the port
    def deploy(self, plan: AppPlan) -> Deployment:
        record = self._load(plan.app)
        if record and record["deployment"]["status"] == RUNNING:
            self.fail(plan.app, record["deployment"]["id"], "Superseded by a newer deployment")
        deployment = Deployment(id=secrets.token_hex(6), app=plan.app, release=plan.release,
                                created_at=now_iso(), description="Deployment is running: starting canaries")
        for process in plan.processes:
            if process.quantity > 0:
                deployment.groups[process.type] = GroupState(desired_total=process.quantity,
                                                             desired_canaries=process.quantity)
        record = {"deployment": deployment.to_dict(), "plan": asdict(plan),
                  "deadline": time.time() + plan.update.healthy_deadline, "retire": [], "retire_after": 0}
        self._save(plan.app, record)
        try:
            for process in plan.processes:
                for _ in range(process.quantity):
                    self._start(plan, process, deployment.id, canary=True)
        except docker.errors.DockerException as exc:
            # e.g. the image cannot be pulled: this release cannot start, which is not worth retrying.
            return self.fail(plan.app, deployment.id, f"Could not start v{plan.release}: {_first_line(exc)}")
        if not deployment.groups:
            return self._finish(plan.app, record, SUCCESSFUL, "Nothing to run: every process type is scaled to 0")
        return self.deployment(plan.app)

    def deployment(self, app: str) -> Deployment | None:
        record = self._load(app)
        if record is None:
            return None
        deployment = Deployment.from_dict(record["deployment"])
        if deployment.finished:
            return deployment
        plan = plan_from_dict(record["plan"])
        if deployment.promoted:
            return self._retire(app, record)
        checks = self._checks()
        dead = []
        for name, group in deployment.groups.items():
            process = plan.process(name)
            canaries = self.containers(app, deployment=deployment.id, type=name)
            verdicts = [self._healthy(c, process, plan.update, checks) for c in canaries]
            group.placed_canaries = len(canaries)
            group.healthy = sum(v is True for v in verdicts)
            group.unhealthy = sum(v is False for v in verdicts)
            dead += [c.name for c, v in zip(canaries, verdicts, strict=True) if v is False]
        record["deployment"] = deployment.to_dict()
        if dead:
            return self.fail(app, deployment.id, f"Canary {dead[0]} exited or crashed before becoming healthy")
        if time.time() > record["deadline"]:
            unhealthy = [n for n, g in deployment.groups.items() if g.healthy < g.desired_canaries]
            return self.fail(app, deployment.id, f"Canaries of {', '.join(unhealthy)} were not healthy within "
                             f"healthy_deadline ({plan.update.healthy_deadline:g}s)")
        if all(g.healthy >= g.desired_canaries for g in deployment.groups.values()):
            deployment.description = "Deployment is running but requires promotion"
        record["deployment"] = deployment.to_dict()
        self._save(app, record)
        return deployment

    def promote(self, app: str, deployment_id: str) -> Deployment:
        record = self._current(app, deployment_id)
        deployment = Deployment.from_dict(record["deployment"])
        if any(g.healthy < g.desired_canaries for g in deployment.groups.values()):
            raise ValidationError("Cannot promote: not every canary is healthy")
        plan = plan_from_dict(record["plan"])
        canaries = self.containers(app, deployment=deployment_id)
        for container in canaries:
            process = plan.process(_labels(container)[f"{LABEL}.type"])
            self._register(container, plan, process, canary=False, passing=True)
        old = [c for c in self.containers(app) if _labels(c).get(f"{LABEL}.deployment") != deployment_id]
        for container in old:
            self._deregister(container)
        for group in deployment.groups.values():
            group.promoted = True
        deployment.description = "Promoted: draining the previous instances"
        record.update(deployment=deployment.to_dict(), retire=[c.name for c in old],
                      retire_after=time.time() + plan.update.drain_time)
        self._save(app, record)
        return self._retire(app, record)

    def _retire(self, app: str, record: dict) -> Deployment:
        if time.time() < record["retire_after"]:
            return Deployment.from_dict(record["deployment"])
        plan = plan_from_dict(record["plan"])
        old = [c for c in self.containers(app) if c.name in set(record["retire"])]
        self._stop(old, plan.update.stop_timeout)
        return self._finish(app, record, SUCCESSFUL, f"Deployment completed: v{plan.release} is live")

    def _finish(self, app: str, record: dict, status: str, description: str) -> Deployment:
        deployment = Deployment.from_dict(record["deployment"])
        deployment.status, deployment.description = status, description
        record["deployment"] = deployment.to_dict()
        self._save(app, record)
        return deployment

    def _current(self, app: str, deployment_id: str) -> dict:
        record = self._load(app)
        if record is None or record["deployment"]["id"] != deployment_id:
            raise NotFound(f"Deployment {deployment_id} of {app} not found")
        return record

    def fail(self, app: str, deployment_id: str, reason: str) -> Deployment:
        record = self._current(app, deployment_id)
        canaries = self.containers(app, deployment=deployment_id)
        for container in canaries:
            self._deregister(container)
        self._stop(canaries, 2)
        return self._finish(app, record, FAILED, reason)

    def reconcile(self, plan: AppPlan) -> None:
        """Make the live release's instances match the plan; remove what belongs to nothing."""
        record = self._load(plan.app)
        active = record["deployment"]["id"] if record and record["deployment"]["status"] == RUNNING else None
        live_deployment = record["deployment"]["id"] if record and not active else None
        checks = self._checks()
        registered = {sid: (sorted(svc.get("Tags") or []), svc.get("Address"))
                      for sid, svc in self.agent.agent.services().items()}
        live = self._tags(plan, canary=False)
        containers = self.containers(plan.app)
        orphans, extra = [], []
        for process in plan.processes:
            mine = [c for c in containers if _labels(c).get(f"{LABEL}.type") == process.type
                    and _labels(c).get(f"{LABEL}.release") == str(plan.release)
                    and _labels(c).get(f"{LABEL}.deployment") != active]
            alive = []
            for container in mine:
                if container.status in ("exited", "dead", "created"):
                    self._deregister(container)
                    orphans.append(container)
                else:
                    alive.append(container)
                    if container.name not in registered:
                        self._register(container, plan, process, canary=False)  # e.g. Consul restarted
                    elif process.is_web and registered.get(container.name) != (sorted(live), _bridge_ip(container)):
                        # Routing changed (domains:add/remove) or a restart moved the container:
                        # re-register in place; the check keeps its status.
                        self._register(container, plan, process, canary=False,
                                       passing=checks.get(container.name) == "passing")
            for _ in range(process.quantity - len(alive)):
                self._start(plan, process, live_deployment or "reconcile", canary=False)
            extra += alive[process.quantity:] if process.quantity < len(alive) else []
        known_types = {p.type for p in plan.processes}
        for container in containers:
            labels = _labels(container)
            belongs = labels.get(f"{LABEL}.deployment") == active or (
                labels.get(f"{LABEL}.release") == str(plan.release) and labels.get(f"{LABEL}.type") in known_types)
            retiring = record and container.name in set(record.get("retire", []))
            if not belongs and not retiring:
                orphans.append(container)
        for container in extra:
            self._deregister(container)
        if extra:
            time.sleep(plan.update.drain_time)  # let routers drop them before they stop
        for container in orphans:
            self._deregister(container)
        self._stop(orphans + extra, plan.update.stop_timeout)
        self._expire_runs(plan.app)

    def scale(self, plan: AppPlan) -> None:
        self.reconcile(plan)

    def destroy(self, app: str) -> None:
        # Twice, a moment apart: a supervisor step that began before the app's keys were deleted
        # may still start or register an instance; the second pass removes it. Everything here is
        # this platform's only: containers by label, registrations by Meta platform.
        for attempt in range(2):
            containers = self.containers(app)
            for container in containers:
                self._deregister(container)
            self._stop(containers + self._runs(app), 5)
            for service_id, service in self.agent.agent.services().items():
                meta = service.get("Meta") or {}
                if meta.get("app") == app and meta.get("platform") == self.platform:
                    self.agent.agent.service.deregister(service_id)
            if attempt == 0:
                time.sleep(0.5)
        self._remove_networks(app)  # after its containers: Docker refuses to remove a network in use
        self.kv.txn([Op.delete(self._record_key(app))])

    def _runs(self, app: str) -> list[Container]:
        return self.client.containers.list(all=True, filters={"label": [
            f"{LABEL}.app={app}", f"{LABEL}.role=run", f"{LABEL}.platform={self.platform}"]})

    def _expire_runs(self, app: str) -> None:
        """One-off runs past their deadline whose controller is gone (killed, restarted): the
        controller that ran them would have killed them itself."""
        now = time.time()
        for container in self._runs(app):
            deadline = _labels(container).get(f"{LABEL}.deadline", "")
            if deadline.replace(".", "", 1).isdigit() and float(deadline) + 10 < now:
                log.info("docker scheduler: removing one-off run %s past its deadline", container.name)
                self._stop([container], 1)

    def apps(self) -> set[str]:
        """Apps of this platform with a container (instance or run) or a network left."""
        found = self.client.containers.list(all=True, filters={"label": [f"{LABEL}.platform={self.platform}"]})
        names = {_labels(c).get(f"{LABEL}.app", "") for c in found
                 if _labels(c).get(f"{LABEL}.role") in ("instance", "run")}
        names |= {(n.attrs.get("Labels") or {}).get(f"{LABEL}.app", "")
                  for n in self.client.networks.list(filters=self._network_filters())}
        return names - {""}

    def instances(self, app: str) -> list[Instance]:
        checks = self._checks()
        record = self._load(app)
        active = record["deployment"] if record else {}
        result = []
        for container in self.containers(app):
            labels = _labels(container)
            canary = labels.get(f"{LABEL}.deployment") == active.get("id") and active.get("status") == RUNNING \
                and not Deployment.from_dict(active).promoted
            port = labels.get(f"{LABEL}.port")
            result.append(Instance(
                id=container.name, app=app, release=int(labels.get(f"{LABEL}.release", 0)),
                type=labels.get(f"{LABEL}.type", ""), state=container.status,
                health=checks.get(container.name, "passing" if container.status == "running" and not port
                                  else "unknown"),
                address=f"127.0.0.1:{port}" if port else None, canary=canary,
                started_at=container.attrs.get("State", {}).get("StartedAt"),
            ))
        return sorted(result, key=lambda i: (i.type, i.release, i.id))

    def logs(self, app: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        """Lines prefixed with type.instance; followed, also "" every HEARTBEAT seconds of quiet.
        Closing the iterator (the client went away) closes the Docker log streams, which ends
        their reader threads."""
        selected = [c for c in self.containers(app)
                    if process_type is None or _labels(c).get(f"{LABEL}.type") == process_type]
        if not follow:
            for container in selected:
                prefix = _prefix(container)
                for line in container.logs(tail=tail, timestamps=False).decode("utf-8", "replace").splitlines():
                    yield f"{prefix} {line}"
            return
        lines: queue.Queue = queue.Queue()
        streams = [(container, container.logs(stream=True, follow=True, tail=tail)) for container in selected]

        def pump(container: Container, stream) -> None:
            prefix = _prefix(container)
            pending = b""
            try:
                for chunk in stream:
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for line in complete:
                        lines.put(f"{prefix} {line.decode('utf-8', 'replace')}")
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
            plan, command, platform=self.platform, name=f"paas-{plan.app}-run-{secrets.token_hex(3)}",
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
        try:
            container.start()
            watcher.start()
            pending = b""
            for chunk in container.logs(stream=True, follow=True):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    sink(line.decode("utf-8", "replace"))
            if pending:
                sink(pending.decode("utf-8", "replace"))
            code = int(container.wait().get("StatusCode", 1))
        finally:
            finished.set()
            container.remove(force=True)
        if outcome.get("stopped") == "timeout":
            raise RunTimedOut(f"The command ran longer than {timeout:g}s (PAAS_RUN_TIMEOUT) and was killed")
        return code


def _launcher(image) -> bool:
    return bool((image.labels or {}).get("paas.launcher"))


def _bridge_ip(container: Container) -> str:
    """The container's address on its app's network (where the host's checks and Traefik reach
    it); the platform's containers are on that network only."""
    container.reload()
    labels = _labels(container)
    networks = container.attrs.get("NetworkSettings", {}).get("Networks", {})
    own = networks.get(docker_spec.network_name(labels.get(f"{LABEL}.platform", ""), labels.get(f"{LABEL}.app", "")))
    if own and own.get("IPAddress"):
        return own["IPAddress"]
    return next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), "127.0.0.1")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _prefix(container: Container) -> str:
    labels = _labels(container)
    return f"{labels.get(f'{LABEL}.type', '?')}.{container.name.rsplit('-', 1)[-1]}"
