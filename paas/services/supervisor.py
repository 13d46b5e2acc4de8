"""The supervisor: a background thread in each controller process that runs DeployService.step
for every app whose lock it holds. Locks are per app (Consul sessions), so any number of
controller processes share the work and a restarted one picks up what was in flight."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from paas.domain.errors import PaasError
from paas.domain.ports import AppLocks, AppStore, ChangeFeed

from .deploys import DeployService

log = logging.getLogger(__name__)
TICK = 0.2  # while a deployment is in flight
IDLE_WAIT = 1.0  # otherwise: until the store changes, at most this long (crash replacement)
SWEEP_EVERY = 5.0
MAX_BACKOFF = 30.0  # between retries of an app whose step keeps failing unexpectedly


class Supervisor:
    def __init__(self, deploys: DeployService, apps: AppStore, locks: AppLocks, changes: ChangeFeed,
                 tick: float = TICK, finish_destroys: Callable[[], list[str]] | None = None):
        self.deploys = deploys
        # Finishes destroys a crashed controller left half done (AppService.finish_pending_destroys).
        self.finish_destroys = finish_destroys
        self.apps = apps
        self.locks = locks
        self.changes = changes
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sweep = 0.0
        # app -> (consecutive unexpected errors, monotonic time before which it is not stepped)
        self._backoff: dict[str, tuple[int, float]] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="paas-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        self.locks.close()

    def _loop(self) -> None:
        last_renew, index = 0.0, 0
        while not self._stop.is_set():
            try:
                started = time.monotonic()
                if started - last_renew > 3:
                    self.locks.renew()
                    last_renew = started
                if self.run_once():
                    self._stop.wait(max(0.0, self.tick - (time.monotonic() - started)))
                    continue
                # Idle: sleep until a release, formation or app changes (or IDLE_WAIT passes).
                index = self.changes.wait_for_change(index, IDLE_WAIT)
            except PaasError as exc:
                log.warning("supervisor: %s", exc)
                self._stop.wait(IDLE_WAIT)
            except Exception:  # noqa: BLE001 - this thread must not die: log the bug and go on
                log.exception("supervisor: unexpected error (the loop goes on)")
                self._stop.wait(IDLE_WAIT)

    def run_once(self) -> bool:
        """Step every app this process holds; True if a deployment is in flight."""
        try:
            names = [app.name for app in self.apps.list()]
        except PaasError as exc:
            log.warning("supervisor: cannot list apps: %s", exc)
            return False
        busy = False
        for gone in self.locks.held() - set(names):
            try:
                self.locks.forget(gone)  # destroyed: a new app of that name starts unlocked
            except PaasError as exc:
                log.warning("supervisor: %s: %s", gone, exc)
        for name in names:
            failures, not_before = self._backoff.get(name, (0, 0.0))
            if time.monotonic() < not_before:
                busy = True  # come back when the backoff ends
                continue
            try:
                if self.locks.try_acquire(name):
                    busy = self.deploys.step(name) or busy
                self._backoff.pop(name, None)
            except PaasError as exc:
                # One app's trouble (a store hiccup, a lost CAS) must not stop the others.
                log.warning("supervisor: %s: %s", name, exc)
            except Exception:  # noqa: BLE001 - this thread must not die: log the bug, go on with the others
                delay = min(MAX_BACKOFF, self.tick * 2 ** failures)
                self._backoff[name] = (failures + 1, time.monotonic() + delay)
                log.exception("supervisor: %s: unexpected error (retried in %.1fs)", name, delay)
        if time.monotonic() - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = time.monotonic()
            self._sweep(set(names))
        return busy

    def _sweep(self, known: set[str]) -> None:
        """Stop what still runs for apps that no longer exist (e.g. a step raced a destroy)."""
        try:
            if self.finish_destroys:
                for name in self.finish_destroys():
                    log.info("supervisor: finished the interrupted destroy of %s", name)
            for name in self.deploys.orphaned_apps(known):
                if self.locks.try_acquire(name):
                    log.info("supervisor: removing instances of destroyed app %s", name)
                    self.deploys.destroy(name)
                    self.locks.forget(name)
        except PaasError as exc:
            log.warning("supervisor: sweep: %s", exc)
        except Exception:  # noqa: BLE001 - this thread must not die: log the bug and go on
            log.exception("supervisor: sweep: unexpected error (retried at the next sweep)")
