"""The Run stage's port: what a scheduler runs (AppPlan), what it reports (InstanceReport,
Instance) and what it can be asked (Scheduler). The rollout's decisions are not here but in
domain/deployments.py, so both adapters (Docker, Nomad) share one state machine."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .errors import ValidationError

WEB = "web"
CONTAINER_PORT = 5000


@dataclass
class UpdatePolicy:
    """Nomad's update block, in seconds. Defaults are tuned for fast deploys."""

    min_healthy_time: float = 0.5
    healthy_deadline: float = 60.0
    # Counted from the moment the router serves the new instances (or promotion, when the
    # router cannot tell): requests it sent the old ones before that finish meanwhile.
    drain_time: float = 0.5
    stop_timeout: float = 10.0
    # An HTTP check that has answered fails the deployment after this many failures in a row.
    check_failures: int = 3

    def wait_budget(self) -> float:
        """How long a caller waits for a rollout to go live: the canaries' whole deadline, plus
        slack for pulling the image and the supervisor picking the app up (callers return at
        promotion, so drain and stop times are not waited for)."""
        return self.healthy_deadline + 30

    def validate(self) -> UpdatePolicy:
        if not 0 <= self.min_healthy_time < self.healthy_deadline <= 3600:
            raise ValidationError("Need 0 <= min_healthy_time < healthy_deadline <= 3600 seconds")
        if not 0 <= self.drain_time <= 300 or not 0 <= self.stop_timeout <= 300:
            raise ValidationError("drain_time and stop_timeout must be between 0 and 300 seconds")
        if not isinstance(self.check_failures, int) or not 1 <= self.check_failures <= 100:
            raise ValidationError("check_failures must be a whole number from 1 to 100")
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


@dataclass(frozen=True)
class CheckResult:
    """One health probe of one instance, as the scheduler saw it."""

    passing: bool
    detail: str  # "HTTP 200", "HTTP 500: <body excerpt>", "connection refused", "timed out after 2s"
    answered: bool = False  # the instance answered (any HTTP status; a TCP connect)


@dataclass(frozen=True)
class InstanceReport:
    """One canary of a deployment, observed now (Scheduler.observe)."""

    id: str
    type: str
    release: int
    state: str  # starting, running, exited, dead
    exit_code: int | None = None
    oom_killed: bool = False
    restarts: int = 0
    check: CheckResult | None = None  # None: no check (workers: running is healthy)
    last_lines: list[str] = field(default_factory=list)  # its output, read while it still exists
    # Where the router sends its requests once promoted (host:port), if the scheduler knows: the
    # deploy service asks the router when it serves these (the timeline's "routed").
    address: str | None = None

    @property
    def label(self) -> str:
        return instance_label(self.type, self.id)


def instance_label(process_type: str, instance_id: str) -> str:
    """How people see an instance: web.3f2a1c (type and the id's last part)."""
    return f"{process_type}.{instance_id.rsplit('-', 1)[-1]}"


@dataclass
class Instance:
    """One instance as `ps` shows it."""

    id: str
    app: str
    release: int
    type: str
    state: str  # running, starting, exited, restarting, crashed
    health: str  # passing, critical, unknown
    address: str | None = None
    canary: bool = False
    started_at: str | None = None
    restarts: int = 0
    exit_code: int | None = None  # of its last exit, if it ever exited


LogSink = Callable[[str], None]
STDOUT, STDERR = "stdout", "stderr"


class AttachedRun(Protocol):
    """A one-off process the caller is attached to (`paas run`): its stdin, its output, its
    terminal when it has one. Closing it kills and removes the process if it still runs."""

    name: str  # how people see it, as its log lines' source: run.4d5e6f

    def read(self) -> tuple[str, bytes] | None:
        """The next output (STDOUT or STDERR, and bytes) as it comes; None once it has ended."""
        ...

    def write(self, data: bytes) -> None: ...

    def close_stdin(self) -> None:
        """No more input: the process reads end-of-file."""
        ...

    def resize(self, rows: int, cols: int) -> None:
        """The window size of its terminal (nothing without one)."""
        ...

    def wait(self) -> int:
        """Its exit code, once it has ended; raises PaasError when it was killed for outliving
        PAAS_RUN_TIMEOUT."""
        ...

    def close(self) -> None: ...


class Scheduler(Protocol):
    """Implemented by scheduler/docker.py (one host) and scheduler/nomad/ (a cluster). The
    deployment state machine lives in the domain (domain/deployments.py); a scheduler places,
    observes, routes and stops instances, each labelled with the id of the deployment that
    started them."""

    def start(self, plan: AppPlan, deployment_id: str) -> None:
        """Place plan's instances as canaries (unrouted) beside whatever runs; instances of the
        deployment that exist already count (a resumed start tops up). Raises StartFailed when
        the release cannot start at all (e.g. its image cannot be pulled)."""
        ...

    def observe(self, plan: AppPlan, deployment_id: str) -> list[InstanceReport]:
        """The canaries of the deployment now, each with a fresh health result; an instance that
        ended carries its exit code and last lines."""
        ...

    def promote(self, plan: AppPlan, deployment_id: str) -> None:
        """Route to the deployment's instances. The previous ones keep their routes until
        `unroute`: the router may take a moment to add the new ones (e.g. until their Consul check
        passes), and until then the old ones must keep serving."""
        ...

    def unroute(self, plan: AppPlan, keep: set[str]) -> None:
        """Stop routing to every instance not started by a deployment in `keep`; they keep
        running (to finish what they serve) until `retire`. Schedulers whose promotion moves the
        routes themselves (Nomad) have nothing to do."""
        ...

    def retire(self, plan: AppPlan, keep: set[str]) -> int:
        """Stop (in the background: SIGTERM, SIGKILL after the type's stop_timeout) every instance
        of the app not started by a deployment in `keep`; how many of them still exist."""
        ...

    def discard(self, plan: AppPlan, deployment_id: str) -> None:
        """Remove the deployment's instances (it failed or was superseded)."""
        ...

    def reconcile(self, plan: AppPlan, deployment_id: str, keep: set[str]) -> None:
        """Converge the live deployment to the plan: replace crashed or vanished instances, apply
        quantities, deregister what no longer exists, stop what belongs to no deployment in
        `keep`. Schedulers that do this themselves (Nomad) only do what they do not."""
        ...

    def destroy(self, app: str) -> None: ...

    def apps(self) -> set[str]:
        """Every app the scheduler runs something for (to sweep apps destroyed meanwhile)."""
        ...

    def instances(self, app: str) -> list[Instance]: ...

    def instance_events(self, timeout: float) -> set[str] | None:
        """Block until instances of some apps changed on their own (exited, were removed) or
        `timeout` passes: those apps' names. None: this scheduler reports no such events (the
        caller then reconciles periodically)."""
        ...

    def preview(self, plan: AppPlan) -> str:
        """What this scheduler would submit for the plan, for people (the Nomad job, the Docker
        container specs); the caller masks config values first."""
        ...

    def logs(self, app: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        """Log lines; when followed, also "" after a while of quiet (a keep-alive: the caller
        learns that its client left only when it writes). Closing the iterator ends the follow
        and its readers."""
        ...

    def attach(self, plan: AppPlan, command: str, tty: bool, size: tuple[int, int] | None) -> AttachedRun:
        """A one-off process of plan's release with its stdin open (and a terminal of `size`
        when `tty`), started and attached to; the caller closes it."""
        ...

    def run_detached(self, plan: AppPlan, command: str) -> str:
        """A one-off process left running on its own (output to the app's log history, ended by
        PAAS_RUN_TIMEOUT at the latest); its name, e.g. run.4d5e6f."""
        ...

    def run(self, plan: AppPlan, command: str, sink: LogSink, cancel: threading.Event | None = None) -> int:
        """A one-off container of the release with its config; output to sink; the exit code.
        Killed and removed when `cancel` is set (the client went away) or after PAAS_RUN_TIMEOUT
        (then a PaasError says so)."""
        ...
