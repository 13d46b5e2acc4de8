"""Deploys: every new release (push, config change, rollback, image) and every formation change
is rolled out by one level-triggered step per app, run under the app's lock by the supervisor.

    step(app): a deployment is STARTING  -> observe its canaries, judge, promote or fail
               a deployment is RETIRING  -> stop the previous instances after drain_time
               the target (head release unless it failed, restart token) is not live
                                         -> start a deployment (canaries)
               otherwise                 -> reconcile the live deployment (crashes, scale, orphans)

The decisions are domain/deployments.py's; this module performs them and persists the one
DeployState per app after every change, so a controller that dies mid-rollout is resumed by
whichever controller takes the app's lock next."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from paas.domain import names, timeline
from paas.domain.appjson import AppJson
from paas.domain.apps import App
from paas.domain.clock import now_iso
from paas.domain.deployments import (
    Deployment,
    DeployState,
    Fail,
    Failure,
    GroupState,
    Phase,
    Promote,
    judge,
)
from paas.domain.errors import NotFound, StartFailed, ValidationError
from paas.domain.formation import Formation
from paas.domain.ports import AppStore, BuildStore, DeployStateStore, FormationStore, ReleaseStore, RouterView
from paas.domain.releases import MASK, Release
from paas.domain.scheduler import AppPlan, AttachedRun, Instance, LogSink, Scheduler

from .logs import LogService
from .plans import build_plan, declared
from .retry import retry_on_conflict

RECONCILE_EVERY = 2.0
# After promotion, how long to wait for the router to serve the new instances before draining
# the old ones anyway (the router's API may be slow or its view of the catalog late).
ROUTE_WAIT = 10.0


class DeployService:
    def __init__(self, scheduler: Scheduler, apps: AppStore, releases: ReleaseStore, formations: FormationStore,
                 states: DeployStateStore, clock: Callable[[], float] = time.time, builds: BuildStore | None = None,
                 router: RouterView | None = None, log_history: LogService | None = None):
        """builds: where each release's app.json is read (Build.app_json), merged into its plan;
        router: what the router serves, to know when a promoted deployment takes requests;
        log_history: the app's log history, told when a release goes live or fails."""
        self.scheduler = scheduler
        self.apps = apps
        self.releases = releases
        self.formations = formations
        self.states = states
        self.clock = clock
        self.builds = builds
        self.router = router
        self.log_history = log_history
        self._declared: dict[tuple[str, str], AppJson | None] = {}  # builds never change
        self._last_reconcile: dict[str, tuple[float, int]] = {}  # app -> (clock, formation index)

    # ------------------------------------------------------------------ the step
    def step(self, name: str, reconcile: bool = False) -> bool:
        """One step for the app; True while a deployment of it is in flight (come back soon).
        reconcile: compare what runs with the live deployment now (the supervisor was told
        that something changed), not only every RECONCILE_EVERY."""
        found = self.apps.get(name)
        if found is None:
            return False
        app = found[0]
        formation, formation_index = self.formations.get(name)
        state, index = self.states.get(name)
        desired = self._desired(name, state)
        target = (desired.version, formation.restart_token) if desired else None
        current = state.current

        if current is not None and current.phase == Phase.STARTING:
            if target is not None and target != current.target:
                return self._supersede(app, formation, state, index, current)
            return self._advance(app, formation, state, index, current)
        if current is not None and current.phase == Phase.RETIRING:
            still = self._retire(app, formation, state, index, current)
            if still and (target is None or target == current.target):
                if timeline.has(current.timeline, "drain") and \
                        self.clock() >= _drain_from(current) + formation.update.drain_time:
                    # The old ones are being stopped anyway: a live instance that crashed
                    # meanwhile is replaced now, not once the last old one is gone.
                    self._maybe_reconcile(app, formation, formation_index, state)
                return True
            if still:
                # A newer target while old instances still stop: they stop on (the scheduler
                # does it in the background); the newer rollout need not wait for them.
                state, index = self.states.get(name)
                if state.current is not None and state.current.id == current.id:
                    self._end(state, current, Phase.SUCCESSFUL,
                              f"v{current.release} is live (superseded while its predecessors stopped)")
                    self._save(name, state, index)
            state, index = self.states.get(name)  # _retire may have saved: the CAS index moved
        if desired is not None and target not in (state.live_target, state.failed_target):
            return self._start(app, desired, formation, state, index)
        self._maybe_reconcile(app, formation, formation_index, state, force=reconcile)
        return False

    def _desired(self, name: str, state: DeployState) -> Release | None:
        """The head release unless it failed or has no build; else the live one (restarts,
        limits and checks of what serves)."""
        head = self.releases.get(name, self.releases.head(name)[0])
        if head is not None and head.image and not head.failed:
            return head
        if state.live_release is not None:
            return self.releases.get(name, state.live_release)
        return None

    def _app_json(self, app: str, release: Release) -> AppJson | None:
        if self.builds is None or not release.build_id:
            return None
        key = (app, release.build_id)
        if key not in self._declared:
            self._declared[key] = declared(self.builds, app, release)
        return self._declared[key]

    def _plan(self, app: App, version: int, formation: Formation) -> AppPlan | None:
        release = self.releases.get(app.name, version)
        return build_plan(app, release, formation, self._app_json(app.name, release)) if release else None

    def _start(self, app: App, release: Release, formation: Formation, state: DeployState, index: int) -> bool:
        plan = build_plan(app, release, formation, self._app_json(app.name, release))
        assert plan is not None  # _desired returns releases with a build
        now = self.clock()
        deployment = Deployment(
            id=secrets.token_hex(6), app=app.name, release=release.version, token=formation.restart_token,
            started=now, created_at=now_iso(), updated_at=now_iso(),
            checks={p.type: p.healthcheck for p in plan.processes if p.is_web},
            groups={p.type: GroupState(desired_total=p.quantity, desired_canaries=p.quantity)
                    for p in plan.processes if p.quantity > 0})
        if not deployment.groups:
            # Nothing to run (every type scaled to 0): live at once, nothing to retire.
            state.current = deployment
            self._go_live(state, deployment, plan)
            self.scheduler.retire(plan, keep={deployment.id})
            self._end(state, deployment, Phase.SUCCESSFUL, "Nothing to run: every process type is scaled to 0")
            self._save(app.name, state, index)
            return False
        timeline.begin(deployment.timeline, "start", now)
        state.current = deployment
        self._save(app.name, state, index)  # first: a crash while starting leaves a record to resume
        state, index = self.states.get(app.name)
        return self._place(app, formation, state, index, state.current or deployment, plan)

    def _place(self, app: App, formation: Formation, state: DeployState, index: int, current: Deployment,
               plan: AppPlan) -> bool:
        """Ask the scheduler for the instances (it tops up: a resumed start places what is missing)."""
        try:
            self.scheduler.start(plan, current.id)
        except StartFailed as exc:
            self._fail(app, formation, state, index, current, Failure(reason=str(exc)), plan)
            return False
        current.placed = True
        timeline.begin(current.timeline, "first_check", self.clock())
        self._save(app.name, state, index)
        return True

    def _advance(self, app: App, formation: Formation, state: DeployState, index: int, current: Deployment) -> bool:
        plan = self._plan(app, current.release, formation)
        if plan is None:
            self._fail(app, formation, state, index, current,
                       Failure(reason=f"v{current.release} no longer exists"), None)
            return False
        if not current.placed:
            return self._place(app, formation, state, index, current, plan)
        before = current.to_dict()
        verdict = judge(current, self.scheduler.observe(plan, current.id), plan.update, self.clock())
        if isinstance(verdict, Fail):
            self._fail(app, formation, state, index, current, verdict.failure, plan)
            return False
        passing = [p.passing_since for p in current.instances.values() if p.passing_since is not None]
        if passing:
            timeline.begin(current.timeline, "healthy", min(passing))
        if isinstance(verdict, Promote):
            timeline.begin(current.timeline, "promote", self.clock())
            self.scheduler.promote(plan, current.id)
            current.replaces = state.live_deployment
            self._go_live(state, current, plan)
            current.phase = Phase.RETIRING
            current.live_since = self.clock()
            timeline.begin(current.timeline, "routed", current.live_since)
            for group in current.groups.values():
                group.promoted = True
            current.description = f"v{current.release} is live: draining the previous instances"
            self._save(app.name, state, index)
            if self.log_history is not None:
                self.log_history.release_line(app.name, f"v{current.release} is live (deployment {current.id})")
            if current.replaces is None:
                # A first deploy: nothing served before, so nothing drains; done once routed.
                state, index = self.states.get(app.name)
                return self._retire(app, formation, state, index, state.current or current)
            return True
        current.description = verdict.description
        if current.to_dict() != before:
            self._save(app.name, state, index)
        return True

    def _routed(self, name: str, current: Deployment, since: float, only_new: bool) -> bool:
        """Whether the router sends the app's requests to all of the deployment's web instances
        (only_new: to them alone, the old ones out); True when it cannot tell, or has not within
        ROUTE_WAIT of `since` (a router that lags that much must not hold the rollout)."""
        addresses = {p.address for p in current.instances.values() if p.address}
        if self.router is None or not addresses or "web" not in current.groups:
            return True
        if self.clock() - since > ROUTE_WAIT:
            return True
        servers = self.router.servers(names.service(name))
        if servers is None:
            return True
        return servers == addresses if only_new else servers >= addresses

    def _go_live(self, state: DeployState, deployment: Deployment, plan: AppPlan) -> None:
        state.live_release, state.live_token = deployment.release, deployment.token
        state.live_deployment = deployment.id
        state.live_checks = dict(deployment.checks)
        state.failed_target = None

    def _retire(self, app: App, formation: Formation, state: DeployState, index: int, current: Deployment) -> bool:
        """True while previous instances still exist."""
        plan = self._plan(app, current.release, formation)
        if not timeline.has(current.timeline, "drain"):
            # Blue/green without a gap: the old instances leave the router only once it sends
            # requests to every new one (a new instance's Consul check may still be starting).
            if not self._routed(app.name, current, since=current.live_since or 0, only_new=False):
                return True
            if plan is not None:
                self.scheduler.unroute(plan, keep={current.id})
            timeline.begin(current.timeline, "drain", self.clock())
            self._save(app.name, state, index)
            state, index = self.states.get(app.name)
            current = state.current or current
        if plan is not None and current.replaces is not None:
            if self.clock() < _drain_from(current) + plan.update.drain_time:
                return True
            # Stopped only once the router no longer sends them anything.
            if not self._routed(app.name, current, since=_drain_from(current), only_new=True):
                return True
        remaining = self.scheduler.retire(plan, keep={current.id}) if plan else 0
        if remaining:
            description = f"v{current.release} is live: stopping {remaining} previous instance(s)"
            if description != current.description:
                current.description = description
                self._save(app.name, state, index)
            return True
        self._end(state, current, Phase.SUCCESSFUL, f"Deployment completed: v{current.release} is live")
        self._save(app.name, state, index)
        return False

    def _supersede(self, app: App, formation: Formation, state: DeployState, index: int,
                   current: Deployment) -> bool:
        plan = self._plan(app, current.release, formation)
        if plan is not None:
            self.scheduler.discard(plan, current.id)
        self._end(state, current, Phase.SUPERSEDED, "Superseded by a newer deployment")
        self._save(app.name, state, index)
        return True

    def _fail(self, app: App, formation: Formation, state: DeployState, index: int, current: Deployment,
              failure: Failure, plan: AppPlan | None) -> None:
        if plan is not None:
            self.scheduler.discard(plan, current.id)
        current.failure = failure
        description = failure.reason
        if current.release == state.live_release:
            # A change of the live release's formation (health check, limits, restart) failed:
            # the live instances were never replaced; a new health check is withdrawn.
            if current.checks != state.live_checks and self._restore_checks(app.name, state.live_checks):
                description += "; the new health check was withdrawn and the previous one stays in force"
        else:
            self.releases.mark_failed(app.name, current.release, "\n".join(failure.explain()))
        state.failed_target = current.target
        self._end(state, current, Phase.FAILED, description)
        self._save(app.name, state, index)
        if self.log_history is not None:
            # After the save: the history is told what the deploy state already records.
            self.log_history.failed_canary(app.name, current.release, failure)

    def _restore_checks(self, name: str, checks: dict[str, str | None]) -> bool:
        def attempt() -> bool:
            formation, index = self.formations.get(name)
            restored = formation.copy()
            for process_type, path in checks.items():
                if process_type in restored.processes:
                    restored.processes[process_type].healthcheck = path
            if restored.to_dict() == formation.to_dict():
                return False
            # The restart token stays: the failed target is not retried, the live one runs on.
            self.formations.update(restored, index)
            return True

        return retry_on_conflict(attempt)

    def _end(self, state: DeployState, deployment: Deployment, phase: Phase, description: str) -> None:
        deployment.phase, deployment.description = phase, description
        deployment.finished_at = now_iso()
        timeline.close(deployment.timeline, self.clock())
        state.finish(deployment)

    def _save(self, name: str, state: DeployState, index: int) -> None:
        if state.current is not None:
            state.current.updated_at = now_iso()
        self.states.put(name, state, index)

    def _maybe_reconcile(self, app: App, formation: Formation, formation_index: int, state: DeployState,
                         force: bool = False) -> None:
        """When forced, every RECONCILE_EVERY seconds, and at once when the formation changed (ps:scale)."""
        if state.live_release is None or state.live_deployment is None:
            return
        now = self.clock()
        last, last_index = self._last_reconcile.get(app.name, (0.0, 0))
        if not force and now - last < RECONCILE_EVERY and formation_index == last_index:
            return
        self._last_reconcile[app.name] = (now, formation_index)
        plan = self._plan(app, state.live_release, formation)
        if plan is not None:
            self.scheduler.reconcile(plan, state.live_deployment, keep={state.live_deployment})

    # ------------------------------------------------------------------ queries
    def current(self, name: str) -> Deployment | None:
        return self.states.get(name)[0].current

    def history(self, name: str) -> list[Deployment]:
        return self.states.get(name)[0].all_deployments()

    def live_release(self, name: str) -> int | None:
        return self.states.get(name)[0].live_release

    def wait(self, name: str, version: int | None, timeout: float | None = None, sink: LogSink | None = None,
             after: str | None = None) -> Deployment | None:
        """Block until release `version` is live (promoted and served by the router: retiring the
        previous instances goes on in the background) or its deployment failed or was superseded; with version None,
        until the first deployment after the one with id `after` has settled. Progress lines go
        to sink. None when there is nothing to deploy (no build yet). Waits on the deploy state
        with Consul blocking queries, by default for the app's UpdatePolicy.wait_budget()."""
        if timeout is None:
            timeout = self.formations.get(name)[0].update.wait_budget()
        if version is not None:
            release = self.releases.get(name, version)
            if release is None or not release.image:
                return None
        deadline = time.monotonic() + timeout
        state, index = self.states.get(name)
        said = ""
        while True:
            if version is None and state.live_release is None:
                return None  # nothing runs, so there is nothing to restart
            mine = self._deployment_of(state, version, after)
            if mine is not None:
                if mine.release > (version or 0) and version is not None:
                    return mine  # superseded by a newer release
                if sink and mine.description != said:
                    said = mine.description
                    sink(f"-----> {said}")
                if mine.settled and (mine.routed or not mine.promoted):
                    return mine  # failed, superseded, or live and served by the router
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            state, index = self.states.watch(name, index, min(remaining, 10.0))
        what = f"v{version}" if version is not None else "the restart"
        raise ValidationError(f"{what} of {name} is still deploying after {timeout:g}s; see `paas ps`")

    @staticmethod
    def _deployment_of(state: DeployState, version: int | None, after: str | None) -> Deployment | None:
        """The deployment a waiter follows: of `version` (or a newer one that superseded it), or
        with version None the newest one unless it is `after`."""
        items = state.all_deployments()  # newest first
        if version is None:
            return items[0] if items and items[0].id != after else None
        own = next((d for d in items if d.release == version), None)
        if own is not None and own.settled:
            return own
        return next((d for d in items if d.release > version), own)

    def current_plan(self, app: App) -> AppPlan:
        """The plan of the live release (else the newest one): what a scheduler would run."""
        version = self.live_release(app.name) or self.releases.head(app.name)[0]
        formation, _ = self.formations.get(app.name)
        plan = self._plan(app, version, formation)
        if plan is None:
            raise NotFound(f"{app.name} has no build yet: push code first")
        return plan

    def preview(self, app: App) -> str:
        """What the scheduler would submit for the live release, config values masked."""
        plan = self.current_plan(app)
        return self.scheduler.preview(replace(plan, env=dict.fromkeys(plan.env, MASK)))

    def instances(self, name: str) -> list[Instance]:
        return self.scheduler.instances(name)

    def logs(self, name: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        return self.scheduler.logs(name, process_type, tail, follow)

    def run(self, app: App, command: str, sink: LogSink, cancel: threading.Event | None = None) -> int:
        if not command.strip():
            raise ValidationError("Give a command to run, e.g. paas run python manage.py migrate")
        return self.scheduler.run(self.current_plan(app), command, sink, cancel)

    def attach(self, app: App, command: str, tty: bool, size: tuple[int, int] | None) -> AttachedRun:
        """An interactive one-off run (stdin, a terminal when `tty`); the caller relays it and closes it."""
        if not command.strip():
            raise ValidationError("Give a command to run, e.g. paas run bash")
        return self.scheduler.attach(self.current_plan(app), command, tty, size)

    def run_detached(self, app: App, command: str) -> str:
        """A one-off run left to itself; its name (run.4d5e6f), the source of its log lines."""
        if not command.strip():
            raise ValidationError("Give a command to run, e.g. paas run:detached python worker.py")
        return self.scheduler.run_detached(self.current_plan(app), command)

    def restart(self, name: str, process_type: str | None = None) -> Formation:
        """A rolling restart: fresh instances of the live release, canary-then-promote."""
        if self.live_release(name) is None:
            raise ValidationError(f"Nothing of {name} is running yet: deploy it first")

        def attempt() -> Formation:
            formation, index = self.formations.get(name)
            if process_type is not None and process_type not in formation.processes:
                raise ValidationError(f"No process type {process_type!r}")
            updated = formation.restarted()
            self.formations.update(updated, index)
            return updated

        return retry_on_conflict(attempt)

    def instance_events(self, timeout: float) -> set[str] | None:
        """Apps whose instances changed (the scheduler's events), waiting up to `timeout`; None
        when the scheduler reports no events (then the supervisor reconciles on a timer)."""
        return self.scheduler.instance_events(timeout)

    def orphaned_apps(self, known: set[str]) -> set[str]:
        return self.scheduler.apps() - known

    def destroy(self, name: str) -> None:
        self.scheduler.destroy(name)
        self.states.remove(name)
        self._last_reconcile.pop(name, None)


def _drain_from(deployment: Deployment) -> float:
    """When the old instances' drain began: once the router served the new ones, else at promotion."""
    marks = [m for m in deployment.timeline if m.phase == "drain"]
    return marks[0].started_at if marks else (deployment.live_since or 0)
