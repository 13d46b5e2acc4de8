"""The supervisor: background threads in each controller process that run DeployService.step
for every app whose lock it holds. Locks are per app (Consul sessions), so any number of
controller processes share the work and a restarted one picks up what was in flight.

Event-driven, so its cost does not grow with idle apps and one app never waits for another:
- an app is stepped when its desired state changes (ChangeFeed: which apps' releases, formation
  or record changed) or its instances change (the scheduler's events: a container died), and
  every SWEEP_EVERY seconds as a safety net;
- an app with a deployment in flight is stepped again every `tick` by a worker of its own
  (a pool), so two pushes deploy side by side and a slow probe of one app delays no other;
- a scheduler without events (Nomad here) has its apps reconciled every RECONCILE_EVERY."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from paas.domain.errors import PaasError
from paas.domain.ports import AppLocks, AppStore, ChangeFeed

from .deploys import DeployService

log = logging.getLogger(__name__)
TICK = 0.1  # between steps of an app while its deployment is in flight
IDLE_WAIT = 10.0  # the longest blocking wait of the watchers (they loop)
SWEEP_EVERY = 30.0  # every app is stepped (reconciled) at least this often
RECONCILE_EVERY = 2.0  # with a scheduler that reports no events
RENEW_EVERY = 3.0  # the lock session's TTL is longer (store/locks.py)
MAX_BACKOFF = 30.0  # between retries of an app whose step keeps failing unexpectedly
WORKERS = 8
ALL = "*"  # a wake-up for every app (a change feed that cannot say which)


class Supervisor:
    def __init__(self, deploys: DeployService, apps: AppStore, locks: AppLocks, changes: ChangeFeed,
                 tick: float = TICK, finish_destroys: Callable[[], list[str]] | None = None,
                 workers: int = WORKERS):
        self.deploys = deploys
        # Finishes destroys a crashed controller left half done (AppService.finish_pending_destroys).
        self.finish_destroys = finish_destroys
        self.apps = apps
        self.locks = locks
        self.changes = changes
        self.tick = tick
        self.workers = workers
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_sweep = 0.0
        # app -> (consecutive unexpected errors, monotonic time before which it is not stepped)
        self._backoff: dict[str, tuple[int, float]] = {}
        self._mutex = threading.Lock()
        self._wake = threading.Event()
        self._woken: set[str] = set()  # apps to step now (ALL: every app), filled by the watchers
        self._due: dict[str, tuple[float, bool]] = {}  # app -> (monotonic time, reconcile) of its next step
        self._inflight: set[str] = set()
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ threads
    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="paas-step")
        for target, name in ((self._loop, "paas-supervisor"), (self._watch_store, "paas-watch-store"),
                             (self._watch_instances, "paas-watch-instances")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.locks.close()

    def _wake_up(self, names: set[str]) -> None:
        with self._mutex:
            self._woken |= names
        self._wake.set()

    def _watch_store(self) -> None:
        """Wake the apps whose desired state changed (a Consul blocking query on the change keys)."""
        index, seen = 0, None
        while not self._stop.is_set():
            try:
                index, versions = self.changes.wait_for_changes(index, IDLE_WAIT)
                if versions is None:
                    self._wake_up({ALL})
                elif seen is None:
                    seen = versions  # the loop steps every app at start anyway
                else:
                    changed = {a for a, v in versions.items() if seen.get(a) != v} | (set(seen) - set(versions))
                    seen = versions
                    if changed:
                        self._wake_up(changed)
            except PaasError as exc:
                log.warning("supervisor: watching the store: %s", exc)
                self._stop.wait(1.0)
            except Exception:  # noqa: BLE001 - this thread must not die: log the bug and go on
                log.exception("supervisor: watching the store: unexpected error (goes on)")
                self._stop.wait(1.0)

    def _watch_instances(self) -> None:
        """Wake the apps whose instances changed (the scheduler's events: a container exited)."""
        while not self._stop.is_set():
            try:
                changed = self.deploys.instance_events(IDLE_WAIT)
                if changed is None:
                    # This scheduler reports no events: reconcile every app every RECONCILE_EVERY.
                    if self._stop.wait(RECONCILE_EVERY):
                        return
                    self._wake_up({ALL})
                elif changed:
                    self._wake_up(changed)
            except PaasError as exc:
                log.warning("supervisor: watching instances: %s", exc)
                self._stop.wait(1.0)
            except Exception:  # noqa: BLE001 - this thread must not die: log the bug and go on
                log.exception("supervisor: watching instances: unexpected error (goes on)")
                self._stop.wait(1.0)

    def _loop(self) -> None:
        last_renew = 0.0
        self._wake_up({ALL})  # at start: every app once (resume what was in flight)
        while not self._stop.is_set():
            try:
                # Cleared before looking: a wake-up that comes while we look ends the wait below.
                self._wake.clear()
                now = time.monotonic()
                if now - last_renew > RENEW_EVERY:
                    self.locks.renew()
                    last_renew = now
                self._schedule(now)
                self._dispatch(now)
                self._wake.wait(self._next_wait(time.monotonic()))
            except PaasError as exc:
                log.warning("supervisor: %s", exc)
                self._stop.wait(1.0)
            except Exception:  # noqa: BLE001 - this thread must not die: log the bug and go on
                log.exception("supervisor: unexpected error (the loop goes on)")
                self._stop.wait(1.0)

    def _schedule(self, now: float) -> None:
        """Turn wake-ups (and the periodic sweep) into due steps."""
        with self._mutex:
            woken, self._woken = self._woken, set()
        sweep = now - self._last_sweep >= SWEEP_EVERY
        if ALL in woken or sweep:
            names = self._app_names()
            if names is None:
                return
            woken = (woken - {ALL}) | set(names)
            self._forget_gone(names)
        if sweep:
            self._last_sweep = now
            self._sweep(set(names))
        with self._mutex:
            for name in woken:
                self._due[name] = (now, True)

    def _dispatch(self, now: float) -> None:
        with self._mutex:
            ready = [(n, r) for n, (at, r) in self._due.items() if at <= now and n not in self._inflight
                     and now >= self._backoff.get(n, (0, 0.0))[1]]
            for name, _ in ready:
                del self._due[name]
                self._inflight.add(name)
        for name, reconcile in ready:
            assert self._pool is not None
            self._pool.submit(self._step_in_worker, name, reconcile)

    def _next_wait(self, now: float) -> float:
        with self._mutex:
            times = [at for n, (at, _) in self._due.items() if n not in self._inflight]
        until_sweep = self._last_sweep + SWEEP_EVERY - now
        return max(0.0, min([until_sweep, IDLE_WAIT, *(at - now for at in times)]))

    def _step_in_worker(self, name: str, reconcile: bool) -> None:
        busy = False
        try:
            busy = self._step(name, reconcile)
        finally:
            with self._mutex:
                self._inflight.discard(name)
                if busy:
                    at, was = self._due.get(name, (float("inf"), False))
                    self._due[name] = (min(at, time.monotonic() + self.tick), was)
            self._wake.set()

    # ------------------------------------------------------------------ one app
    def _step(self, name: str, reconcile: bool = False) -> bool:
        """Step one app if this process holds (or takes) its lock; True while it is in flight."""
        failures, _ = self._backoff.get(name, (0, 0.0))
        try:
            if self.apps.get(name) is None:
                # Destroyed (or never was): taking its lock would re-create the key the destroy
                # removed; drop what this process still holds of it instead.
                self.locks.forget(name)
                self._backoff.pop(name, None)
                return False
            busy = bool(self.locks.try_acquire(name) and self.deploys.step(name, reconcile=reconcile))
            self._backoff.pop(name, None)
            return busy
        except PaasError as exc:
            # One app's trouble (a store hiccup, a lost CAS) must not stop the others.
            log.warning("supervisor: %s: %s", name, exc)
            return True  # try again soon
        except Exception:  # noqa: BLE001 - this thread must not die: log the bug, go on with the others
            delay = min(MAX_BACKOFF, self.tick * 2 ** failures)
            self._backoff[name] = (failures + 1, time.monotonic() + delay)
            log.exception("supervisor: %s: unexpected error (retried in %.1fs)", name, delay)
            return True

    def run_once(self) -> bool:
        """Step every app this process holds, one after another (tests drive this); True if a
        deployment is in flight or an app is backed off."""
        names = self._app_names()
        if names is None:
            return False
        self._forget_gone(names)
        busy = False
        for name in names:
            if time.monotonic() < self._backoff.get(name, (0, 0.0))[1]:
                busy = True  # come back when the backoff ends
                continue
            busy = self._step(name, reconcile=True) or busy
        if time.monotonic() - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = time.monotonic()
            self._sweep(set(names))
        return busy

    def _app_names(self) -> list[str] | None:
        try:
            return [app.name for app in self.apps.list()]
        except PaasError as exc:
            log.warning("supervisor: cannot list apps: %s", exc)
            return None

    def _forget_gone(self, names: list[str]) -> None:
        for gone in self.locks.held() - set(names):
            try:
                self.locks.forget(gone)  # destroyed: a new app of that name starts unlocked
            except PaasError as exc:
                log.warning("supervisor: %s: %s", gone, exc)

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
