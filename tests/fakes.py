"""In-memory fakes of the ports (paas/domain/ports.py, paas/domain/scheduler.py) for unit tests of
the services: no Consul, no Docker, and time is a parameter (FakeClock).

They follow the ports' documented semantics and what the Consul adapters (paas/store/*.py) do,
nothing more:
- values are stored serialized (JSON), so a service that changes an object it read but never
  writes back changes nothing, exactly as with Consul;
- every write moves one global modify index (Consul's raft index); check-and-set writes raise
  ConcurrentUpdate when the key's index moved, and index 0 means "only if absent";
- the blocking reads (DeployStateStore.watch, ChangeFeed.wait_for_change) wait on a
  threading.Condition where the adapters make a Consul blocking query; index 0 answers at once,
  as Consul does.

FakeScheduler keeps instances in a dict and has knobs a test turns (exit, crash, set_check,
vanish, start_failures, hold_stops, errors)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from paas.domain.apps import App
from paas.domain.deployments import DeployState
from paas.domain.errors import ConcurrentUpdate, Conflict, NotFound, StartFailed
from paas.domain.formation import Formation
from paas.domain.releases import Release
from paas.domain.scheduler import AppPlan, CheckResult, Instance, InstanceReport, LogSink

Key = tuple[str, ...]

# Check results as a scheduler reports them.
PASSING = CheckResult(passing=True, detail="HTTP 200", answered=True)
HTTP_500 = CheckResult(passing=False, detail="HTTP 500: Internal Server Error", answered=True)
REFUSED = CheckResult(passing=False, detail="connection refused", answered=False)


class FakeClock:
    """Epoch seconds that move only when a test says so (DeployService's `clock`)."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


# ---------------------------------------------------------------------- the KV under the stores
class MemoryKV:
    """Keys (tuples) to JSON text and a modify index, with one global index like Consul's."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._data: dict[Key, tuple[str, int]] = {}
        self.index = 0

    def _index_of(self, key: Key) -> int:
        found = self._data.get(key)
        return found[1] if found else 0

    def get(self, key: Key) -> tuple[Any, int] | None:
        with self._cond:
            found = self._data.get(key)
        return (json.loads(found[0]), found[1]) if found else None

    def keys(self, prefix: Key) -> list[Key]:
        with self._cond:
            return sorted(k for k in self._data if k[: len(prefix)] == prefix)

    def txn(self, checks: dict[Key, int], writes: dict[Key, Any]) -> bool:
        """Atomically: if every key in `checks` is at its index (0: absent), apply `writes` (a
        value of None deletes) at one new index; False, and nothing written, otherwise."""
        with self._cond:
            if any(self._index_of(key) != index for key, index in checks.items()):
                return False
            self.index += 1
            for key, value in writes.items():
                if value is None:
                    self._data.pop(key, None)
                else:
                    self._data[key] = (json.dumps(value), self.index)
            self._cond.notify_all()
            return True

    def watch(self, key: Key, index: int, timeout: float) -> tuple[Any, int] | None:
        with self._cond:
            if index:
                self._cond.wait_for(lambda: self._index_of(key) != index, timeout)
        return self.get(key)

    def wait_for_change(self, index: int, timeout: float) -> int:
        with self._cond:
            if index:
                self._cond.wait_for(lambda: self.index != index, timeout)
            return self.index


# ---------------------------------------------------------------------- stores
def _release_key(app: str, version: int) -> Key:
    return ("releases", app, "v", f"{version:010d}")


class FakeAppStore:
    def __init__(self, kv: MemoryKV):
        self.kv = kv

    def create(self, app: App, first_release: Release, formation: Formation, app_id: str = "") -> None:
        name = app.name
        if not self.kv.txn({("apps", name): 0}, {
            ("apps", name): app.to_dict(),
            ("releases", name, "head"): first_release.version,
            _release_key(name, first_release.version): first_release.to_dict(),
            ("formation", name): formation.to_dict(),
        }):
            raise Conflict(f"App {name!r} already exists")

    def get(self, name: str) -> tuple[App, int] | None:
        found = self.kv.get(("apps", name))
        return (App.from_dict(found[0]), found[1]) if found else None

    def list(self) -> list[App]:
        return [App.from_dict(value) for key in self.kv.keys(("apps",)) if (value := self._value(key)) is not None]

    def _value(self, key: Key) -> Any:
        found = self.kv.get(key)
        return found[0] if found else None

    def update(self, app: App, index: int) -> None:
        if not self.kv.txn({("apps", app.name): index}, {("apps", app.name): app.to_dict()}):
            raise ConcurrentUpdate(f"App {app.name!r} changed concurrently")

    def add_domain(self, app: App, index: int, domain: str) -> None:
        if self.kv.get(("domains", domain)) is not None:
            raise Conflict(f"Domain {domain} is already in use")
        if not self.kv.txn({("apps", app.name): index, ("domains", domain): 0},
                           {("apps", app.name): app.to_dict(), ("domains", domain): {"app": app.name}}):
            raise ConcurrentUpdate(f"App {app.name!r} changed concurrently")

    def remove_domain(self, app: App, index: int, domain: str) -> None:
        if not self.kv.txn({("apps", app.name): index}, {("apps", app.name): app.to_dict(), ("domains", domain): None}):
            raise ConcurrentUpdate(f"App {app.name!r} changed concurrently")

    def domain_records(self, domains: list[str]) -> list[dict]:
        records = []
        for domain in domains:
            value = self._value(("domains", domain))
            if value is None:
                raise ConcurrentUpdate("Domains changed while reading them")
            records.append({"domain": domain, **value})
        return records

    def app_for_domain(self, domain: str) -> str | None:
        value = self._value(("domains", domain))
        return value["app"] if value else None

    def destroy(self, app: App, index: int) -> None:
        """Every key of the app goes in one write, its lock too (as store/apps.py does)."""
        name = app.name
        keys = [k for prefix in ("releases", "builds") for k in self.kv.keys((prefix, name))]
        keys += [("formation", name), ("deploys", name), ("locks", name)]
        keys += [("domains", d) for d in app.domains]
        if not self.kv.txn({("apps", name): index}, {("apps", name): None, **dict.fromkeys(keys)}):
            raise ConcurrentUpdate(f"App {name!r} changed concurrently")


class FakeReleaseStore:
    def __init__(self, kv: MemoryKV):
        self.kv = kv

    def head(self, app: str) -> tuple[int, int]:
        found = self.kv.get(("releases", app, "head"))
        if found is None:
            raise NotFound(f"App {app!r} has no releases")
        return int(found[0]), found[1]

    def get(self, app: str, version: int) -> Release | None:
        found = self.kv.get(_release_key(app, version))
        return Release.from_dict(found[0]) if found else None

    def get_many(self, app: str, versions: list[int]) -> list[Release]:
        releases = [self.get(app, v) for v in versions]
        if None in releases:
            raise NotFound(f"Releases of {app!r} changed while reading them")
        return releases  # type: ignore[return-value]

    def heads(self, apps: list[str]) -> dict[str, int]:
        found = {app: self.kv.get(("releases", app, "head")) for app in apps}
        return {app: int(entry[0]) for app, entry in found.items() if entry is not None}

    def append(self, release: Release, head_index: int) -> None:
        key = _release_key(release.app, release.version)
        if not self.kv.txn({("releases", release.app, "head"): head_index, key: 0},
                           {("releases", release.app, "head"): release.version, key: release.to_dict()}):
            raise ConcurrentUpdate(f"Another release of {release.app!r} was created concurrently")

    def mark_failed(self, app: str, version: int, reason: str) -> None:
        key = _release_key(app, version)
        while (found := self.kv.get(key)) is not None:
            if self.kv.txn({key: found[1]}, {key: {**found[0], "failed": True, "failure_reason": reason[:500]}}):
                return


class FakeFormationStore:
    def __init__(self, kv: MemoryKV):
        self.kv = kv

    def get(self, app: str) -> tuple[Formation, int]:
        found = self.kv.get(("formation", app))
        return (Formation.from_dict(found[0]), found[1]) if found else (Formation(app=app), 0)

    def update(self, formation: Formation, index: int) -> None:
        key = ("formation", formation.app)
        if not self.kv.txn({key: index}, {key: formation.to_dict()}):
            raise ConcurrentUpdate(f"The formation of {formation.app!r} changed concurrently")


class FakeDeployStateStore:
    def __init__(self, kv: MemoryKV):
        self.kv = kv

    @staticmethod
    def _state(found: tuple[Any, int] | None) -> tuple[DeployState, int]:
        return (DeployState.from_dict(found[0]), found[1]) if found else (DeployState(), 0)

    def get(self, app: str) -> tuple[DeployState, int]:
        return self._state(self.kv.get(("deploys", app)))

    def put(self, app: str, state: DeployState, index: int) -> None:
        if not self.kv.txn({("deploys", app): index}, {("deploys", app): state.to_dict()}):
            raise ConcurrentUpdate(f"Deploy state of {app} changed concurrently")

    def watch(self, app: str, index: int, timeout: float) -> tuple[DeployState, int]:
        return self._state(self.kv.watch(("deploys", app), index, timeout))

    def remove(self, app: str) -> None:
        self.kv.txn({}, {("deploys", app): None})


class FakeAppLocks:
    """One controller's locks; several FakeAppLocks over one MemoryKV contend like controllers
    sharing a Consul. A lock is the key ("locks", app) holding its owner."""

    def __init__(self, kv: MemoryKV, owner: str = "controller-1"):
        self.kv = kv
        self.owner = owner
        self._held: set[str] = set()

    def try_acquire(self, app: str) -> bool:
        if app in self._held:
            return True
        if self.kv.txn({("locks", app): 0}, {("locks", app): self.owner}):
            self._held.add(app)
            return True
        found = self.kv.get(("locks", app))
        if found is not None and found[0] == self.owner:  # ours already (e.g. before a lapse)
            self._held.add(app)
            return True
        return False

    def release(self, app: str) -> None:
        if app in self._held:
            found = self.kv.get(("locks", app))
            if found is not None and found[0] == self.owner:
                self.kv.txn({("locks", app): found[1]}, {("locks", app): None})
            self._held.discard(app)

    def held(self) -> set[str]:
        return set(self._held)

    def forget(self, app: str) -> None:
        self._held.discard(app)
        self.kv.txn({}, {("locks", app): None})

    def renew(self) -> None:
        pass  # sessions never lapse here unless a test calls lapse()

    def lapse(self) -> None:
        """The session expired (a long pause): Consul deletes its locks, the holder forgets them."""
        for app in list(self._held):
            self.release(app)

    def close(self) -> None:
        self.lapse()


class FakeChangeFeed:
    def __init__(self, kv: MemoryKV):
        self.kv = kv

    def wait_for_changes(self, index: int, seconds: float) -> tuple[int, dict[str, int] | None]:
        return self.kv.wait_for_change(index, seconds), None  # cannot say which app: every app


# ---------------------------------------------------------------------- the scheduler
@dataclass
class FakeInstance:
    id: str
    app: str
    release: int
    type: str
    deployment: str
    state: str = "running"  # starting, running, exited
    exit_code: int | None = None
    oom_killed: bool = False
    restarts: int = 0
    check: CheckResult | None = None
    last_lines: list[str] = field(default_factory=list)
    routed: bool = False
    stopping: bool = False

    def report(self) -> InstanceReport:
        return InstanceReport(id=self.id, type=self.type, release=self.release, state=self.state,
                              exit_code=self.exit_code, oom_killed=self.oom_killed, restarts=self.restarts,
                              check=self.check, last_lines=list(self.last_lines))


class FakeScheduler:
    """The Scheduler port over a dict of instances. Web instances get a check result (PASSING
    unless set_check said otherwise), other types none (running is healthy). Every call is
    recorded in `calls` as (method, app, deployment id or None)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.instances_by_id: dict[str, FakeInstance] = {}
        # Registrations of instances removed behind the scheduler's back (vanish): observe reports
        # such a canary as dead once, as the Docker adapter does; reconcile deregisters them.
        self.ghosts: dict[str, FakeInstance] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self.new_checks: dict[tuple[str, str], CheckResult | None] = {}  # (app, type) -> for new instances
        self.new_state = "running"  # what start places: "starting" for an app not up yet
        self.start_failures: dict[str, str] = {}  # app -> reason start raises StartFailed with
        self.errors: dict[str, Exception] = {}  # app -> raised by every call for it (a bug, an outage)
        self.hold_stops = False  # retired instances keep existing (stopping) until finish_stops()
        self.run_output: list[str] = []
        self.run_exit_code = 0

    # ------------------------------------------------------------------ knobs
    def of(self, app: str, deployment: str | None = None, type: str | None = None) -> list[FakeInstance]:
        with self._lock:
            return [i for i in self.instances_by_id.values() if i.app == app
                    and (deployment is None or i.deployment == deployment) and (type is None or i.type == type)]

    def set_check(self, app: str, result: CheckResult | None, type: str = "web", instance: str | None = None) -> None:
        """The check result of one instance, or of every instance of the app's type (and of those
        it starts later)."""
        with self._lock:
            if instance is None:
                self.new_checks[(app, type)] = result
            for inst in self.of(app, type=type):
                if instance in (None, inst.id):
                    inst.check = result

    def exit(self, instance: str, code: int, lines: Sequence[str] = (), oom: bool = False) -> None:
        with self._lock:
            inst = self.instances_by_id[instance]
            inst.state, inst.exit_code, inst.oom_killed = "exited", code, oom
            inst.last_lines = list(lines)
            inst.check = None if inst.check is None else REFUSED

    def crash(self, instance: str, restarts: int = 1, code: int = 1, lines: Sequence[str] = ()) -> None:
        """The instance exited and its restart policy started it again (still running)."""
        with self._lock:
            inst = self.instances_by_id[instance]
            inst.restarts += restarts
            inst.exit_code = code
            inst.last_lines = list(lines)

    def vanish(self, instance: str) -> None:
        """Someone removed the container behind the scheduler's back (its registration stays)."""
        with self._lock:
            self.ghosts[instance] = self.instances_by_id.pop(instance)

    def finish_stops(self) -> None:
        with self._lock:
            for inst in [i for i in self.instances_by_id.values() if i.stopping]:
                del self.instances_by_id[inst.id]

    def routed(self, app: str) -> list[FakeInstance]:
        return [i for i in self.of(app) if i.routed]

    def called(self, method: str, app: str | None = None) -> list[tuple[str, str, str | None]]:
        with self._lock:
            return [c for c in self.calls if c[0] == method and (app is None or c[1] == app)]

    # ------------------------------------------------------------------ the port
    def _call(self, method: str, app: str, deployment: str | None = None) -> None:
        self.calls.append((method, app, deployment))
        if app in self.errors:
            raise self.errors[app]

    def _forget_ghosts(self, app: str) -> None:
        for ghost in [g for g in self.ghosts.values() if g.app == app]:
            del self.ghosts[ghost.id]

    def _place(self, plan: AppPlan, deployment: str, process_type: str) -> FakeInstance:
        inst = FakeInstance(id=f"paas-{plan.app}-{process_type}-v{plan.release}-{next(self._ids):06x}",
                            app=plan.app, release=plan.release, type=process_type, deployment=deployment,
                            state=self.new_state,
                            check=self.new_checks.get((plan.app, process_type), PASSING if process_type == "web" else None))
        self.instances_by_id[inst.id] = inst
        return inst

    def _converge(self, plan: AppPlan, deployment: str, routed: bool) -> None:
        """The deployment's instances: the plan's quantity of each type, no exited ones."""
        for inst in self.of(plan.app, deployment):
            wanted = plan.process(inst.type)
            if inst.state == "exited" or wanted is None:
                del self.instances_by_id[inst.id]
        for process in plan.processes:
            have = [i for i in self.of(plan.app, deployment, process.type) if not i.stopping]
            for inst in have[process.quantity:]:
                del self.instances_by_id[inst.id]
            for _ in range(process.quantity - len(have)):
                self._place(plan, deployment, process.type).routed = routed

    def start(self, plan: AppPlan, deployment_id: str) -> None:
        with self._lock:
            self._call("start", plan.app, deployment_id)
            if plan.app in self.start_failures:
                raise StartFailed(self.start_failures[plan.app])
            self._converge(plan, deployment_id, routed=False)  # canaries

    def observe(self, plan: AppPlan, deployment_id: str) -> list[InstanceReport]:
        with self._lock:
            self._call("observe", plan.app, deployment_id)
            reports = [i.report() for i in self.of(plan.app, deployment_id) if not i.stopping]
            for ghost in [g for g in self.ghosts.values() if g.app == plan.app and g.deployment == deployment_id]:
                del self.ghosts[ghost.id]
                reports.append(InstanceReport(id=ghost.id, type=ghost.type, release=ghost.release, state="dead",
                                              last_lines=["(the container was removed)"]))
            return reports

    def promote(self, plan: AppPlan, deployment_id: str) -> None:
        with self._lock:
            self._call("promote", plan.app, deployment_id)
            for inst in self.of(plan.app):
                if inst.deployment == deployment_id:
                    inst.routed = True

    def unroute(self, plan: AppPlan, keep: set[str]) -> None:
        with self._lock:
            self._call("unroute", plan.app)
            for inst in self.of(plan.app):
                if inst.deployment not in keep:
                    inst.routed = False

    def retire(self, plan: AppPlan, keep: set[str]) -> int:
        with self._lock:
            self._call("retire", plan.app)
            for inst in self.of(plan.app):
                if inst.deployment not in keep:
                    inst.routed = False
                    if self.hold_stops:
                        inst.stopping = True
                    else:
                        del self.instances_by_id[inst.id]
            return sum(1 for i in self.of(plan.app) if i.deployment not in keep)

    def discard(self, plan: AppPlan, deployment_id: str) -> None:
        with self._lock:
            self._call("discard", plan.app, deployment_id)
            for inst in self.of(plan.app, deployment_id):
                del self.instances_by_id[inst.id]

    def reconcile(self, plan: AppPlan, deployment_id: str, keep: set[str]) -> None:
        with self._lock:
            self._call("reconcile", plan.app, deployment_id)
            self._forget_ghosts(plan.app)
            for inst in self.of(plan.app):
                if inst.deployment not in keep and not inst.stopping:
                    del self.instances_by_id[inst.id]
            self._converge(plan, deployment_id, routed=True)  # the live deployment's

    def destroy(self, app: str) -> None:
        with self._lock:
            self._call("destroy", app)
            self._forget_ghosts(app)
            for inst in self.of(app):
                del self.instances_by_id[inst.id]

    def instance_events(self, timeout: float) -> set[str] | None:
        return None  # the tests step the supervisor themselves (run_once)

    def apps(self) -> set[str]:
        with self._lock:
            return {i.app for i in self.instances_by_id.values()}

    def instances(self, app: str) -> list[Instance]:
        with self._lock:
            self._call("instances", app)
            return [Instance(id=i.id, app=i.app, release=i.release, type=i.type,
                             state="crashed" if i.state == "exited" else i.state,
                             health="unknown" if i.check is None else "passing" if i.check.passing else "critical",
                             canary=not i.routed, restarts=i.restarts, exit_code=i.exit_code)
                    for i in self.of(app)]

    def preview(self, plan: AppPlan) -> str:
        return json.dumps({"app": plan.app, "release": plan.release, "image": plan.image,
                           "processes": {p.type: p.quantity for p in plan.processes}})

    def logs(self, app: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        lines = [line for i in self.of(app) if process_type in (None, i.type) for line in i.last_lines]
        return iter(lines[-tail:] if tail else lines)

    def run(self, plan: AppPlan, command: str, sink: LogSink, cancel: threading.Event | None = None) -> int:
        self._call("run", plan.app)
        for line in self.run_output:
            sink(line)
        return self.run_exit_code


# ---------------------------------------------------------------------- all of them wired
class FakePlatform:
    """Every fake wired as paas/wiring.py wires the real adapters, and the few writes the other
    services make (create an app, push a build, change the formation)."""

    def __init__(self) -> None:
        self.kv = MemoryKV()
        self.clock = FakeClock()
        self.apps = FakeAppStore(self.kv)
        self.releases = FakeReleaseStore(self.kv)
        self.formations = FakeFormationStore(self.kv)
        self.states = FakeDeployStateStore(self.kv)
        self.changes = FakeChangeFeed(self.kv)
        self.scheduler = FakeScheduler()

    def locks(self, owner: str = "controller-1") -> FakeAppLocks:
        return FakeAppLocks(self.kv, owner)

    def create_app(self, name: str = "shop", owner: str = "alice") -> App:
        """As AppService.create: the app, v1 without a build, an empty formation."""
        app = App(name=name, owner=owner, created_at="2026-12-02T00:00:00Z")
        self.apps.create(app, Release(app=name, version=1, summary=f"{owner} created initial release",
                                      created_by=owner, created_at=app.created_at), Formation(app=name))
        return app

    def release(self, app: str, **changes: Any) -> Release:
        """The next release (as ReleaseService.create): the head's build and config unless changed."""
        version, index = self.releases.head(app)
        head = self.releases.get(app, version)
        assert head is not None
        release = head.successor(summary=changes.pop("summary", "a change"), created_by="alice",
                                 created_at="2026-12-02T00:00:00Z", **changes)
        self.releases.append(release, index)
        return release

    def push(self, app: str, build: str = "b1", procfile: dict[str, str] | None = None, **changes: Any) -> Release:
        """A build's release; the formation follows its process types (as a push does)."""
        procfile = procfile or {"web": "python app.py"}
        release = self.release(app, build_id=build, image=f"registry.local/{app}:{build}", procfile=procfile,
                               summary=f"alice deployed {build}", **changes)
        self.change_formation(app, lambda f: f.for_process_types(set(procfile)))
        return release

    def change_formation(self, app: str, change: Callable[[Formation], Formation]) -> Formation:
        formation, index = self.formations.get(app)
        updated = change(formation)
        self.formations.update(updated, index)
        return updated
