"""The deployment state machine: one typed value per rollout, advanced by pure functions.

    STARTING --every canary healthy for min_healthy_time--> RETIRING --old ones gone--> SUCCESSFUL
       |   (promote: the canaries take the traffic;            (the release is live: callers
       |    the release is live from here on)                   return; old instances drain
       |                                                        and stop in the background)
       |-- an instance exits, is OOM-killed or restarts ------> FAILED (the instance, its exit
       |                                                        code and its last lines)
       |-- an HTTP check that answered fails N in a row,
       |   or answers 5xx N in a row -------------------------> FAILED (the check's last result)
       |-- healthy_deadline passes --------------------------> FAILED
       '-- a newer target (push, config, restart) -----------> SUPERSEDED

The supervisor (services/deploys.py) observes the scheduler, asks `judge` what follows and
performs it; everything a controller needs to resume after a crash is in this value, persisted
in one KV key per app (DeployState)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from .scheduler import InstanceReport, UpdatePolicy
from .timeline import Mark, has

MAX_HISTORY = 20
LAST_LINES = 20


class Phase(StrEnum):
    STARTING = "starting"
    RETIRING = "retiring"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    SUPERSEDED = "superseded"


ACTIVE = {Phase.STARTING, Phase.RETIRING}
# The statuses the API has always shown (Nomad's words), derived from the phase.
RUNNING, SUCCESSFUL, FAILED, CANCELLED = "running", "successful", "failed", "cancelled"
_STATUS = {Phase.STARTING: RUNNING, Phase.RETIRING: RUNNING, Phase.SUCCESSFUL: SUCCESSFUL,
           Phase.FAILED: FAILED, Phase.SUPERSEDED: CANCELLED}


@dataclass
class Failure:
    """Why a deployment failed, in terms a user can act on."""

    reason: str  # one line: "web.3f2a exited with code 3", "HTTP check of web.3f2a answered 500"
    instance: str | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    check: str | None = None  # the check's last result
    last_lines: list[str] = field(default_factory=list)  # the instance's own output, kept

    def explain(self) -> list[str]:
        lines = [self.reason]
        if self.check and self.check not in self.reason:
            lines.append(f"last check result: {self.check}")
        if self.last_lines:
            lines.append(f"last output of {self.instance}:")
            lines += [f"  {line}" for line in self.last_lines[-LAST_LINES:]]
        return lines


@dataclass
class InstanceProgress:
    """What the state machine remembers of one canary between observations."""

    passing_since: float | None = None
    failures_in_row: int = 0
    answered: bool = False  # the check has got an answer at least once (any HTTP status)
    last_check: str = ""
    address: str | None = None  # where the router will send its requests (host:port)


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
    token: str = ""  # the formation's restart token it rolls out
    phase: Phase = Phase.STARTING
    description: str = "Deployment is running: starting canaries"
    groups: dict[str, GroupState] = field(default_factory=dict)
    instances: dict[str, InstanceProgress] = field(default_factory=dict)
    failure: Failure | None = None
    checks: dict[str, str | None] = field(default_factory=dict)  # type -> HTTP path it rolled out
    placed: bool = False  # the scheduler was asked to start its instances (else resume does)
    started: float = 0.0  # epoch seconds
    live_since: float | None = None  # when it was promoted
    replaces: str | None = None  # the deployment whose instances served before this one's promotion
    created_at: str = ""
    updated_at: str = ""
    finished_at: str = ""
    timeline: list[Mark] = field(default_factory=list)  # domain/timeline.DEPLOY_PHASES

    @property
    def status(self) -> str:
        return _STATUS[self.phase]

    @property
    def promoted(self) -> bool:
        return self.phase in (Phase.RETIRING, Phase.SUCCESSFUL)

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    @property
    def finished(self) -> bool:
        return not self.active

    @property
    def settled(self) -> bool:
        """What a caller waits for: the release serves (promoted), or it never will."""
        return self.phase != Phase.STARTING

    @property
    def routed(self) -> bool:
        """Promoted, and the router sends requests to its instances (or cannot tell)."""
        return self.phase == Phase.SUCCESSFUL or (self.promoted and has(self.timeline, "drain"))

    @property
    def target(self) -> tuple[int, str]:
        return self.release, self.token

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(phase=str(self.phase), status=self.status, promoted=self.promoted,
                    timeline=[m.to_dict() for m in self.timeline])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Deployment:
        data = {k: v for k, v in data.items() if k in _FIELDS}
        groups = {k: GroupState(**v) for k, v in data.pop("groups", {}).items()}
        instances = {k: InstanceProgress(**v) for k, v in data.pop("instances", {}).items()}
        failure = data.pop("failure", None)
        timeline = [Mark.from_dict(m) for m in data.pop("timeline", None) or []]
        return cls(groups=groups, instances=instances, failure=Failure(**failure) if failure else None,
                   timeline=timeline,
                   phase=Phase(data.pop("phase", Phase.STARTING)), **data)


_FIELDS = set(Deployment.__dataclass_fields__)


@dataclass
class DeployState:
    """Per app: the live release (what serves), the deployment in flight or last finished, the
    target that last failed (not retried until something changes) and recent history."""

    live_release: int | None = None
    live_token: str | None = None
    live_deployment: str | None = None  # the id whose instances serve
    live_checks: dict[str, str | None] = field(default_factory=dict)
    current: Deployment | None = None
    failed_target: tuple[int, str] | None = None
    history: list[Deployment] = field(default_factory=list)

    @property
    def live_target(self) -> tuple[int, str] | None:
        return (self.live_release, self.live_token or "") if self.live_release is not None else None

    def finish(self, deployment: Deployment) -> None:
        """Move a deployment that ended into the history (newest first)."""
        self.history = [deployment] + [d for d in self.history if d.id != deployment.id][: MAX_HISTORY - 1]

    def all_deployments(self) -> list[Deployment]:
        items = list(self.history)
        if self.current and (not items or items[0].id != self.current.id):
            items = [self.current] + items
        return items

    def to_dict(self) -> dict:
        return {"live_release": self.live_release, "live_token": self.live_token,
                "live_deployment": self.live_deployment, "live_checks": self.live_checks,
                "current": self.current.to_dict() if self.current else None,
                "failed_target": list(self.failed_target) if self.failed_target else None,
                "history": [d.to_dict() for d in self.history]}

    @classmethod
    def from_dict(cls, data: dict) -> DeployState:
        current = data.get("current")
        failed = data.get("failed_target")
        return cls(live_release=data.get("live_release"), live_token=data.get("live_token"),
                   live_deployment=data.get("live_deployment"), live_checks=data.get("live_checks") or {},
                   current=Deployment.from_dict(current) if current else None,
                   failed_target=(failed[0], failed[1]) if failed else None,
                   history=[Deployment.from_dict(d) for d in data.get("history", [])])


# ---------------------------------------------------------------------- judging canaries
@dataclass(frozen=True)
class Wait:
    description: str


@dataclass(frozen=True)
class Promote:
    description: str


@dataclass(frozen=True)
class Fail:
    failure: Failure


Verdict = Wait | Promote | Fail


def judge(deployment: Deployment, reports: list[InstanceReport], policy: UpdatePolicy, now: float) -> Verdict:
    """Advance the canaries' progress with one observation and say what follows. Fail fast but
    never early: an instance that exits fails at once; a check fails the deployment only once it
    has answered (a 5xx is an answer) and then failed `check_failures` times in a row; an app
    still starting (connection refused, no answer yet) is given until healthy_deadline."""
    seen = set()
    for report in reports:
        seen.add(report.id)
        progress = deployment.instances.setdefault(report.id, InstanceProgress())
        progress.address = report.address or progress.address
        if report.state in ("exited", "dead") or report.restarts > 0 or report.oom_killed:
            return Fail(_exit_failure(report))
        if report.state != "running":
            progress.passing_since = None
            continue
        check = report.check
        if check is None or check.passing:
            progress.failures_in_row = 0
            progress.answered = progress.answered or check is not None
            progress.passing_since = progress.passing_since if progress.passing_since is not None else now
            progress.last_check = check.detail if check else "running"
            continue
        progress.passing_since = None
        progress.last_check = check.detail
        if check.answered or progress.answered:
            progress.answered = True
            progress.failures_in_row += 1
            if progress.failures_in_row >= policy.check_failures:
                return Fail(Failure(
                    reason=f"The health check of {report.label} failed {progress.failures_in_row} times in a row: "
                           f"{check.detail}",
                    instance=report.label, check=check.detail, last_lines=report.last_lines))
    deployment.instances = {k: v for k, v in deployment.instances.items() if k in seen}
    _count(deployment, reports, policy, now)
    if now - deployment.started > policy.healthy_deadline:
        return Fail(_deadline_failure(deployment, reports, policy))
    if all(g.healthy >= g.desired_canaries for g in deployment.groups.values()):
        return Promote(f"Canaries of v{deployment.release} are healthy: promoting")
    healthy = sum(g.healthy for g in deployment.groups.values())
    wanted = sum(g.desired_canaries for g in deployment.groups.values())
    return Wait(f"Waiting for canaries of v{deployment.release} to be healthy ({healthy}/{wanted})")


def _count(deployment: Deployment, reports: list[InstanceReport], policy: UpdatePolicy, now: float) -> None:
    for name, group in deployment.groups.items():
        mine = [r for r in reports if r.type == name]
        group.placed_canaries = len(mine)
        group.healthy = sum(1 for r in mine if _healthy(deployment.instances.get(r.id), policy, now))
        group.unhealthy = sum(1 for r in mine if (p := deployment.instances.get(r.id)) and p.failures_in_row)


def _healthy(progress: InstanceProgress | None, policy: UpdatePolicy, now: float) -> bool:
    return progress is not None and progress.passing_since is not None \
        and now - progress.passing_since >= policy.min_healthy_time


def _exit_failure(report: InstanceReport) -> Failure:
    if report.oom_killed:
        how = "was killed for running out of memory (OOM)"
    elif report.state == "running" and report.restarts:
        how = f"crashed and was restarted {report.restarts} time(s) (last exit code {report.exit_code})"
    elif report.exit_code is not None and report.exit_code > 128:
        how = f"was killed by signal {report.exit_code - 128} (exit code {report.exit_code})"
    else:
        how = f"exited with code {report.exit_code}" if report.exit_code is not None else "exited"
    return Failure(reason=f"{report.label} {how} before becoming healthy", instance=report.label,
                   exit_code=report.exit_code, oom_killed=report.oom_killed, last_lines=report.last_lines)


def _deadline_failure(deployment: Deployment, reports: list[InstanceReport], policy: UpdatePolicy) -> Failure:
    waiting = [r for r in reports if not _healthy(deployment.instances.get(r.id), policy, 1e18)]
    missing = [n for n, g in deployment.groups.items() if g.placed_canaries < g.desired_canaries]
    if waiting:
        first = waiting[0]
        last = deployment.instances.get(first.id, InstanceProgress()).last_check or "no check result yet"
        return Failure(reason=f"{first.label} was not healthy within healthy_deadline "
                              f"({policy.healthy_deadline:g}s): {last}",
                       instance=first.label, check=last, last_lines=first.last_lines)
    if missing:
        return Failure(reason=f"Instances of {', '.join(missing)} were not placed within healthy_deadline "
                              f"({policy.healthy_deadline:g}s)")
    first = reports[0] if reports else None
    return Failure(reason=f"The canaries passed their checks but not for min_healthy_time "
                          f"({policy.min_healthy_time:g}s) before healthy_deadline ({policy.healthy_deadline:g}s)",
                   instance=first.label if first else None)
