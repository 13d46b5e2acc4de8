"""Forwarding collected lines to an app's drains: syslog:// (RFC 5424, octet-counted, over TCP)
and https:// (POSTs of batches of the same frames, Content-Type application/logplex-1, as
Heroku's HTTPS drains).

A drain never slows collection: `forward` only puts lines on each drain's bounded queue (a full
queue drops the lines and counts them); one thread per drain sends. Before every connection the
drain's host is resolved and every address checked against the DrainPolicy, and the connection
goes to the checked address (for https with the name for SNI and the certificate), so a name
that rebinds to the host's own services between the check and the connection cannot be used."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3

from paas.domain.errors import PaasError, ValidationError
from paas.domain.logs import Drain, DrainPolicy, DrainUrl, LogLine, parse_drain_url, syslog_frame

QUEUE_LINES = 10_000  # per drain: beyond this, lines are dropped (and counted)
BATCH_LINES = 500
CONNECT_TIMEOUT = 2.0
SEND_TIMEOUT = 5.0
RETRY_AFTER = 1.0  # after a failed connection or send: its batch is dropped, the next waits this long
DRAINS_TTL = 2.0  # how long an app's list of drains is reused (drains:add is seen within this)
log = logging.getLogger(__name__)

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


@dataclass
class DrainStats:
    sent: int = 0
    dropped: int = 0
    errors: int = 0
    last_error: str = ""


@dataclass
class _Sender:
    drain: Drain
    target: DrainUrl
    lines: queue.Queue = field(default_factory=lambda: queue.Queue(QUEUE_LINES))
    stats: DrainStats = field(default_factory=DrainStats)
    thread: threading.Thread | None = None


class DrainForwarder:
    def __init__(self, drains_of: Callable[[str], list[Drain]], policy: DrainPolicy, resolver: Resolver = resolve,
                 clock: Callable[[], float] = time.monotonic, ca_certs: str | None = None):
        """ca_certs: the CA bundle https drains are verified against (a site's own log host
        with a private CA); None: the system's."""
        self.drains_of, self.policy, self.resolver, self.clock = drains_of, policy, resolver, clock
        self.ca_certs = ca_certs
        self._senders: dict[str, _Sender] = {}  # drain id -> its sender
        self._known: dict[str, tuple[float, list[Drain]]] = {}  # app -> (when read, its drains)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def forward(self, lines: list[LogLine]) -> None:
        """Called by the collector's writer with the lines it just stored; never blocks."""
        by_app: dict[str, list[LogLine]] = {}
        for line in lines:
            by_app.setdefault(line.app, []).append(line)
        for app, app_lines in by_app.items():
            for sender in self._senders_of(app):
                for line in app_lines:
                    try:
                        sender.lines.put_nowait(line)
                    except queue.Full:
                        sender.stats.dropped += 1

    def stats(self) -> dict[str, DrainStats]:
        return {drain_id: sender.stats for drain_id, sender in self._senders.items()}

    def stop(self) -> None:
        self._stop.set()
        for sender in list(self._senders.values()):
            if sender.thread is not None:
                sender.thread.join(timeout=SEND_TIMEOUT + 1)

    def _senders_of(self, app: str) -> list[_Sender]:
        now = self.clock()
        with self._lock:
            known = self._known.get(app)
            if known is None or now - known[0] > DRAINS_TTL:
                try:
                    drains = self.drains_of(app)
                except PaasError as exc:  # the store is down: keep forwarding to the drains we knew
                    log.warning("drains of %s not read: %s", app, str(exc)[:200])
                    drains = known[1] if known else []
                known = (now, drains)
                self._known[app] = known
                self._retire({d.id for d in drains}, app)
            senders = []
            for drain in known[1]:
                sender = self._senders.get(drain.id)
                if sender is None:
                    try:
                        sender = _Sender(drain, parse_drain_url(drain.url))
                    except ValidationError:
                        continue  # stored before a stricter rule: never sent to
                    sender.thread = threading.Thread(target=self._send_loop, args=(sender,),
                                                     name=f"paas-drain-{drain.id}", daemon=True)
                    self._senders[drain.id] = sender
                    sender.thread.start()
                senders.append(sender)
            return senders

    def _retire(self, keep: set[str], app: str) -> None:
        """Drains removed from the app: their senders end (at their next look at the queue)."""
        for drain_id in [i for i, s in self._senders.items() if s.drain.app == app and i not in keep]:
            self._senders.pop(drain_id)

    def _active(self, sender: _Sender) -> bool:
        return not self._stop.is_set() and self._senders.get(sender.drain.id) is sender

    # ------------------------------------------------------------------ sending (one thread a drain)
    def _send_loop(self, sender: _Sender) -> None:
        connection: socket.socket | None = None
        try:
            while self._active(sender):
                batch = self._batch(sender)
                if not batch:
                    continue
                try:
                    if sender.target.scheme == "syslog":
                        connection = self._send_syslog(sender.target, connection, batch)
                    else:
                        self._send_https(sender.target, batch)
                    sender.stats.sent += len(batch)
                except (OSError, ValidationError, urllib3.exceptions.HTTPError) as exc:
                    # Never the URL itself in the log: its userinfo and query may be a token.
                    sender.stats.errors += 1
                    sender.stats.dropped += len(batch)
                    sender.stats.last_error = str(exc)[:200]
                    log.info("drain %s of %s (%s): %s", sender.drain.id, sender.drain.app,
                             sender.target.masked(), sender.stats.last_error)
                    if connection is not None:
                        connection.close()
                        connection = None
                    self._stop.wait(RETRY_AFTER)
        finally:
            if connection is not None:
                connection.close()

    def _batch(self, sender: _Sender) -> list[LogLine]:
        try:
            batch = [sender.lines.get(timeout=0.5)]
        except queue.Empty:
            return []
        while len(batch) < BATCH_LINES:
            try:
                batch.append(sender.lines.get_nowait())
            except queue.Empty:
                break
        return batch

    def _checked_address(self, target: DrainUrl) -> str:
        addresses = self.resolver(target.host, target.port)
        if not addresses:
            raise ValidationError(f"{target.host} resolves to no address")
        for address in addresses:
            self.policy.check_address(address, target.port)  # every one: a name must not mix in the host
        return addresses[0]

    def _send_syslog(self, target: DrainUrl, connection: socket.socket | None, batch: list[LogLine]) -> socket.socket:
        if connection is None:
            connection = socket.create_connection((self._checked_address(target), target.port),
                                                  timeout=CONNECT_TIMEOUT)
            connection.settimeout(SEND_TIMEOUT)
        connection.sendall(b"".join(syslog_frame(line) for line in batch))
        return connection

    def _send_https(self, target: DrainUrl, batch: list[LogLine]) -> None:
        parts = urlsplit(target.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/logplex-1", "Logplex-Msg-Count": str(len(batch)),
                   "Host": target.host if target.port == 443 else f"{target.host}:{target.port}"}
        if parts.username or parts.password:
            headers.update(urllib3.make_headers(basic_auth=f"{parts.username or ''}:{parts.password or ''}"))
        pool = urllib3.HTTPSConnectionPool(self._checked_address(target), target.port, server_hostname=target.host,
                                           assert_hostname=target.host, cert_reqs="CERT_REQUIRED", retries=False,
                                           ca_certs=self.ca_certs,
                                           timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=SEND_TIMEOUT))
        try:
            response = pool.urlopen("POST", path, body=b"\n".join(syslog_frame(line) for line in batch),
                                    headers=headers, redirect=False)
        finally:
            pool.close()
        if response.status >= 300:
            raise OSError(f"HTTP {response.status}")
