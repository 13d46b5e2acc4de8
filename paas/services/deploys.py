"""Deploys: every new release (push, config change, rollback, image) and every formation change
is rolled out by one level-triggered step per app, run under the app's lock by the supervisor.

    step(app): a deployment is running  -> advance it (promote when every canary is healthy)
               the head release differs from the live one -> deploy it (canaries)
               otherwise                 -> reconcile the live release (crashes, scale, orphans)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from paas.domain.apps import App
from paas.domain.errors import NotFound, ValidationError
from paas.domain.formation import Formation
from paas.domain.ports import AppStore, DeployStateStore, FormationStore, ReleaseStore
from paas.domain.releases import Release
from paas.domain.scheduler import (
    FAILED,
    RUNNING,
    SUCCESSFUL,
    AppPlan,
    Deployment,
    Instance,
    LogSink,
    ProcessPlan,
    Scheduler,
)

from .retry import retry_on_conflict

MAX_HISTORY = 20
RECONCILE_EVERY = 2.0


def build_plan(app: App, release: Release, formation: Formation) -> AppPlan | None:
    """What to run for a release; None while the app has no build."""
    if not release.image:
        return None
    processes = []
    for name, command in sorted(release.procfile.items()):
        spec = formation.processes.get(name)
        processes.append(ProcessPlan(
            type=name, command=command, quantity=spec.quantity if spec else (1 if name == "web" else 0),
            memory=spec.memory if spec else None, cpu=spec.cpu if spec else None,
            healthcheck=spec.healthcheck if spec else None,
        ))
    return AppPlan(app=app.name, release=release.version, image=release.image, env=dict(release.config),
                   processes=processes, update=formation.update, domains=list(app.domains),
                   force_tls=app.tls_force, git_sha=release.git_sha,
                   build_id=release.build_id, restart_token=formation.restart_token)


class DeployService:
    def __init__(self, scheduler: Scheduler, apps: AppStore, releases: ReleaseStore, formations: FormationStore,
                 states: DeployStateStore):
        self.scheduler = scheduler
        self.apps = apps
        self.releases = releases
        self.formations = formations
        self.states = states
        self._last_reconcile: dict[str, float] = {}

    # ------------------------------------------------------------------ the step
    def step(self, name: str) -> bool:
        """One step for the app; True while a deployment of it is in flight (come back soon)."""
        found = self.apps.get(name)
        if found is None:
            return False
        app = found[0]
        formation, _ = self.formations.get(name)
        head_version, _ = self.releases.head(name)
        head = self.releases.get(name, head_version)
        state, index = self.states.get(name)
        current = Deployment.from_dict(state["deployment"]) if state.get("deployment") else None

        if current and current.status == RUNNING:
            return self._advance(name, current, state, index)
        # The head release unless it failed (or has no build); then the live one (restarts, limits).
        live = [state.get("live_release"), state.get("live_token")]
        desired = head if head and head.image and not head.failed else None
        if desired is None and live[0]:
            desired = self.releases.get(name, live[0])
        if desired is not None:
            target = [desired.version, formation.restart_token]
            if target != live and target != state.get("failed_target"):
                state["target"] = target
                return self._record(name, self.scheduler.deploy(build_plan(app, desired, formation)), state, index)
        now = time.monotonic()
        if state.get("live_release") and now - self._last_reconcile.get(name, 0) >= RECONCILE_EVERY:
            self._last_reconcile[name] = now
            live_release = self.releases.get(name, state["live_release"])
            plan = build_plan(app, live_release, formation) if live_release else None
            if plan:
                self.scheduler.reconcile(plan)
        return False

    def _advance(self, name: str, current: Deployment, state: dict, index: int) -> bool:
        deployment = self.scheduler.deployment(name) or current
        if deployment.status == RUNNING and not deployment.promoted and all(
            g.healthy >= g.desired_canaries for g in deployment.groups.values()
        ):
            deployment = self.scheduler.promote(name, deployment.id)
        return self._record(name, deployment, state, index)

    def _record(self, name: str, deployment: Deployment, state: dict, index: int) -> bool:
        """Store the deployment's progress; when it ends, move the live release or mark it failed."""
        state["deployment"] = deployment.to_dict()
        if deployment.status == SUCCESSFUL:
            state["live_release"], state["live_token"] = state["target"]
        elif deployment.status == FAILED:
            state["failed_target"] = state["target"]
            if deployment.release != state.get("live_release"):
                self.releases.mark_failed(name, deployment.release, deployment.description)
        if deployment.finished:
            state["history"] = ([deployment.to_dict()] + state.get("history", []))[:MAX_HISTORY]
        self._save(name, state, index)
        return not deployment.finished

    def _save(self, name: str, state: dict, index: int) -> None:
        self.states.put(name, state, index)

    # ------------------------------------------------------------------ queries
    def current(self, name: str) -> Deployment | None:
        state, _ = self.states.get(name)
        return Deployment.from_dict(state["deployment"]) if state.get("deployment") else None

    def history(self, name: str) -> list[Deployment]:
        state, _ = self.states.get(name)
        items = state.get("history", [])
        current = state.get("deployment")
        if current and (not items or items[0]["id"] != current["id"]):
            items = [current] + items
        return [Deployment.from_dict(d) for d in items]

    def wait(self, name: str, version: int | None, timeout: float, sink: LogSink | None = None,
             after: str | None = None) -> Deployment | None:
        """Block until release `version` is live or its deployment failed or was superseded; with
        version None, until the first deployment after the one with id `after` has finished.
        Progress lines go to sink. None when there is nothing to deploy (no build yet)."""
        if version is not None:
            release = self.releases.get(name, version)
            if release is None or not release.image:
                return None
        deadline = time.monotonic() + timeout
        said = ""
        while time.monotonic() < deadline:
            state, _ = self.states.get(name)
            deployment = Deployment.from_dict(state["deployment"]) if state.get("deployment") else None
            if version is None and not state.get("live_release"):
                return None  # nothing runs, so there is nothing to restart
            if deployment and deployment.release > (version or 0) and version is not None:
                return deployment  # superseded by a newer release
            mine = deployment and (deployment.release == version if version is not None else deployment.id != after)
            if mine:
                if sink and deployment.description != said:
                    said = deployment.description
                    sink(f"-----> {said}")
                if deployment.finished:
                    return deployment
            time.sleep(0.1)
        what = f"v{version}" if version is not None else "the restart"
        raise ValidationError(f"{what} of {name} is still deploying after {timeout:g}s; see `paas ps`")

    def current_plan(self, app: App) -> AppPlan:
        """The plan of the live release (else the newest one): what a scheduler would run."""
        state, _ = self.states.get(app.name)
        version = state.get("live_release") or self.releases.head(app.name)[0]
        release = self.releases.get(app.name, version)
        formation, _ = self.formations.get(app.name)
        plan = build_plan(app, release, formation) if release else None
        if plan is None:
            raise NotFound(f"{app.name} has no build yet: push code first")
        return plan

    def instances(self, name: str) -> list[Instance]:
        return self.scheduler.instances(name)

    def logs(self, name: str, process_type: str | None, tail: int, follow: bool) -> Iterator[str]:
        return self.scheduler.logs(name, process_type, tail, follow)

    def run(self, app: App, command: str, sink: LogSink, cancel: threading.Event | None = None) -> int:
        if not command.strip():
            raise ValidationError("Give a command to run, e.g. paas run python manage.py migrate")
        return self.scheduler.run(self.current_plan(app), command, sink, cancel)

    def restart(self, name: str, process_type: str | None = None) -> Formation:
        """A rolling restart: fresh instances of the live release, canary-then-promote."""
        if not self.states.get(name)[0].get("live_release"):
            raise ValidationError(f"Nothing of {name} is running yet: deploy it first")

        def attempt() -> Formation:
            formation, index = self.formations.get(name)
            if process_type is not None and process_type not in formation.processes:
                raise ValidationError(f"No process type {process_type!r}")
            updated = formation.restarted()
            self.formations.update(updated, index)
            return updated

        return retry_on_conflict(attempt)

    def orphaned_apps(self, known: set[str]) -> set[str]:
        return self.scheduler.apps() - known

    def destroy(self, name: str) -> None:
        self.scheduler.destroy(name)
        self.states.remove(name)
