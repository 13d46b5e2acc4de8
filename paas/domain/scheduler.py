"""The Run stage's model, shaped after Nomad's deployments so both adapters fit one port.

A deploy places the new release's instances beside the old ones as canaries (canary = count);
once every canary has been healthy for min_healthy_time they are promoted (routed), the old
instances are deregistered, drained and stopped. A canary that is not healthy by
healthy_deadline fails the deployment: canaries go, the old release keeps serving."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Protocol

from .errors import ValidationError

RUNNING, SUCCESSFUL, FAILED, CANCELLED = "running", "successful", "failed", "cancelled"
TERMINAL = {SUCCESSFUL, FAILED, CANCELLED}
WEB = "web"
CONTAINER_PORT = 5000


@dataclass
class UpdatePolicy:
    """Nomad's update block, in seconds. Defaults are tuned for fast deploys."""

    min_healthy_time: float = 1.0
    healthy_deadline: float = 60.0
    drain_time: float = 1.0
    stop_timeout: float = 10.0

    def validate(self) -> UpdatePolicy:
        if not 0 <= self.min_healthy_time < self.healthy_deadline <= 3600:
            raise ValidationError("Need 0 <= min_healthy_time < healthy_deadline <= 3600 seconds")
        if not 0 <= self.drain_time <= 300 or not 0 <= self.stop_timeout <= 300:
            raise ValidationError("drain_time and stop_timeout must be between 0 and 300 seconds")
        return self


@dataclass
class ProcessPlan:
    """One process type of one release: what to run and how many."""

    type: str
    command: str
    quantity: int
    memory: str | None = None
    cpu: float | None = None
    healthcheck: str | None = None  # HTTP path for web; None = TCP check

    @property
    def is_web(self) -> bool:
        return self.type == WEB


@dataclass
class AppPlan:
    """Everything a scheduler needs to run one release of an app."""

    app: str
    release: int
    image: str
    env: dict[str, str]
    processes: list[ProcessPlan]
    update: UpdatePolicy = field(default_factory=UpdatePolicy)
    domains: list[str] = field(default_factory=list)
    force_tls: bool = False
    git_sha: str | None = None
    build_id: str | None = None
    # A new value forces fresh instances of the same release (ps:restart, limits:set).
    restart_token: str | None = None

    def process(self, name: str) -> ProcessPlan | None:
        return next((p for p in self.processes if p.type == name), None)


@dataclass
class GroupState:
    desired_total: int = 0
    desired_canaries: int = 0
    placed_canaries: int = 0
    healthy: int = 0
    unhealthy: int = 0
    promoted: bool = False


@dataclass
class Deployment:
    id: str
    app: str
    release: int
    status: str = RUNNING
    description: str = "Deployment is running"
    groups: dict[str, GroupState] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""

    @property
    def promoted(self) -> bool:
        return bool(self.groups) and all(g.promoted or g.desired_canaries == 0 for g in self.groups.values())

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict:
        return {**asdict(self), "promoted": self.promoted}

    @classmethod
    def from_dict(cls, data: dict) -> Deployment:
        data = {k: v for k, v in data.items() if k != "promoted"}
        groups = {k: GroupState(**v) for k, v in data.pop("groups", {}).items()}
        return cls(groups=groups, **data)


@dataclass
class Instance:
    id: str
    app: str
    release: int
    type: str
    state: str  # running, starting, exited, restarting
    health: str  # passing, critical, unknown
    address: str | None = None
    canary: bool = False
    started_at: str | None = None


LogSink = Callable[[str], None]


class Scheduler(Protocol):
    """Implemented by scheduler/docker.py (one host) and scheduler/nomad.py (a cluster)."""

    def deploy(self, plan: AppPlan) -> Deployment:
        """Start rolling out plan.release: canaries beside the running instances."""
        ...

    def deployment(self, app: str) -> Deployment | None:
        """The latest deployment of the app as the scheduler sees it now."""
        ...

    def promote(self, app: str, deployment_id: str) -> Deployment:
        """Route to the canaries and retire the old instances (all canaries must be healthy)."""
        ...

    def fail(self, app: str, deployment_id: str, reason: str) -> Deployment:
        """Give up: remove the canaries; the previous release keeps serving."""
        ...

    def reconcile(self, plan: AppPlan) -> None:
        """Converge what runs to the plan of the live release (replace crashed instances, finish
        retirements, remove orphans). Schedulers that do this themselves (Nomad) do nothing."""
        ...

    def scale(self, plan: AppPlan) -> None:
        """Apply new quantities of the live release in place: no new release, no canaries."""
        ...

    def destroy(self, app: str) -> None: ...

    def apps(self) -> set[str]:
        """Every app the scheduler runs something for (to sweep apps destroyed meanwhile)."""
        ...

    def instances(self, app: str) -> list[Instance]: ...

    def logs(self, app: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        """Log lines; when followed, also "" after a while of quiet (a keep-alive: the caller
        learns that its client left only when it writes). Closing the iterator ends the follow
        and its readers."""
        ...

    def run(self, plan: AppPlan, command: str, sink: LogSink, cancel: threading.Event | None = None) -> int:
        """A one-off container of the release with its config; output to sink; the exit code.
        Killed and removed when `cancel` is set (the client went away) or after PAAS_RUN_TIMEOUT
        (then a PaasError says so)."""
        ...
