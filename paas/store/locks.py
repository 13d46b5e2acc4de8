"""Per-app locks on Consul sessions: two controller processes never drive one app at once, and a
dead controller's locks lapse with its session (TTL), so another one takes over."""

from __future__ import annotations

import threading
import time

import consul

from paas.domain.errors import StoreUnavailable

from .kv import ConsulKV, Op, _consul_errors

SESSION_TTL = 10  # seconds, Consul's minimum; a crashed holder's locks free within 2 x TTL
RETRY_HELD_AFTER = 3.0  # seconds before asking again for a lock another process holds


class ConsulAppLocks:
    def __init__(self, kv: ConsulKV, owner: str):
        self.kv = kv
        self.owner = owner
        self._session: str | None = None
        self._held: set[str] = set()
        self._others: dict[str, float] = {}  # app -> when to try again
        self._mutex = threading.Lock()

    @property
    def client(self) -> consul.Consul:
        return self.kv.client

    def _key(self, app: str) -> str:
        return self.kv.key("locks", app)

    def _session_id(self) -> str:
        if self._session is None:
            with _consul_errors():
                self._session = self.client.session.create(
                    name=f"paas-controller {self.owner}", ttl=SESSION_TTL, behavior="delete", lock_delay=0
                )
        return self._session

    def try_acquire(self, app: str) -> bool:
        with self._mutex:
            if app in self._held:
                return True
            if time.monotonic() < self._others.get(app, 0):
                return False  # another controller drives it; do not ask Consul every tick
            with _consul_errors():
                acquired = self.client.kv.put(self._key(app), self.owner, acquire=self._session_id())
            if acquired:
                self._held.add(app)
                self._others.pop(app, None)
            else:
                self._others[app] = time.monotonic() + RETRY_HELD_AFTER
            return bool(acquired)

    def release(self, app: str) -> None:
        with self._mutex:
            if app in self._held and self._session:
                with _consul_errors():
                    self.client.kv.put(self._key(app), self.owner, release=self._session)
                self._held.discard(app)

    def held(self) -> set[str]:
        with self._mutex:
            return set(self._held)

    def forget(self, app: str) -> None:
        """Drop the lock of an app that no longer exists (its key may already be deleted)."""
        with self._mutex:
            self._held.discard(app)
            self._others.pop(app, None)
        self.kv.txn([Op.delete(self._key(app))])

    def renew(self) -> None:
        """Keep the session alive; if it lapsed (e.g. a long pause), start over with no locks."""
        if self._session is None:
            return
        try:
            with _consul_errors():
                alive = self.client.session.renew(self._session)
        except StoreUnavailable:
            alive = None
        if not alive:
            with self._mutex:
                self._session = None
                self._held.clear()

    def close(self) -> None:
        if self._session:
            try:
                with _consul_errors():
                    self.client.session.destroy(self._session)
            except StoreUnavailable:
                pass  # the TTL frees the locks anyway
            self._session = None
            self._held.clear()
