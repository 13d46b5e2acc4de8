"""The supervisor: a background thread in each controller process that runs DeployService.step
for every app whose lock it holds. Locks are per app (Consul sessions), so any number of
controller processes share the work and a restarted one picks up what was in flight."""

from __future__ import annotations

import logging
import threading
import time

from paas.domain.errors import PaasError
from paas.domain.ports import AppLocks, AppStore

from .deploys import DeployService

log = logging.getLogger(__name__)
TICK = 0.2
SWEEP_EVERY = 5.0


class Supervisor:
    def __init__(self, deploys: DeployService, apps: AppStore, locks: AppLocks, tick: float = TICK):
        self.deploys = deploys
        self.apps = apps
        self.locks = locks
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sweep = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="paas-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        self.locks.close()

    def _loop(self) -> None:
        last_renew = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            if started - last_renew > 3:
                self.locks.renew()
                last_renew = started
            self.run_once()
            self._stop.wait(max(0.0, self.tick - (time.monotonic() - started)))

    def run_once(self) -> None:
        try:
            names = [app.name for app in self.apps.list()]
        except PaasError as exc:
            log.warning("supervisor: cannot list apps: %s", exc)
            return
        for name in names:
            try:
                if self.locks.try_acquire(name):
                    self.deploys.step(name)
            except PaasError as exc:
                # One app's trouble (a store hiccup, a lost CAS) must not stop the others.
                log.warning("supervisor: %s: %s", name, exc)
        if time.monotonic() - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = time.monotonic()
            self._sweep(set(names))

    def _sweep(self, known: set[str]) -> None:
        """Stop what still runs for apps that no longer exist (e.g. a step raced a destroy)."""
        try:
            for name in self.deploys.orphaned_apps(known):
                if self.locks.try_acquire(name):
                    log.info("supervisor: removing instances of destroyed app %s", name)
                    self.deploys.destroy(name)
                    self.locks.release(name)
        except PaasError as exc:
            log.warning("supervisor: sweep: %s", exc)
