"""The log history's plain data and rules (no I/O): one line of an app's history, how it is
shown, the Traefik access-log line it may come from, `--since` values, and which log drain URLs
are acceptable (a drain is a URL a user names, so it is checked as an SSRF attempt)."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .errors import ValidationError

ROUTER, RELEASE = "router", "release"
# A source as users name it: web.1a2b3c, run.4d5e, router, release (`--source`).
SOURCE_PATTERN = r"^[a-z][a-z0-9_-]{0,29}(\.[0-9a-f]{1,12})?$"
DRAIN_SCHEMES = ("syslog", "https")
MAX_LINE_CHARS = 8192
_SINCE = re.compile(r"(\d{1,6})([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_HOST_PATTERN = r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*"
# The form a drain URL takes (the spec publishes it; parse_drain_url is the rule).
DRAIN_URL_PATTERN = (rf"^(syslog://{_HOST_PATTERN}:{_PORT}/?|https://([A-Za-z0-9._~!$&'()*+,;=:%-]+@)?{_HOST_PATTERN}(:{_PORT})?"
                     r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?)$")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*")


@dataclass(frozen=True)
class LogLine:
    """One line of an app's history. `source` is what users filter by (web.1a2b3c, router,
    release, run.4d5e); `type` the process type (or router/release); `tag` marks lines such as
    a failed canary's."""

    ts: float
    app: str
    source: str
    type: str
    text: str
    tag: str = ""

    def render(self) -> str:
        stamp = datetime.fromtimestamp(self.ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        source = f"{self.source}[{self.tag}]" if self.tag else self.source
        return f"{stamp} {source}: {self.text}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OutputSource:
    """One platform container whose output the collector follows. `origin` (the container id)
    keeps its lines apart from every other container's in the store; `address` (bridge ip:port,
    web instances only) is how a router line names the instance that answered."""

    origin: str
    app: str
    source: str
    type: str
    address: str = ""


def bounded(text: str) -> str:
    """A line as stored: at most MAX_LINE_CHARS, so one huge line cannot fill an app's budget."""
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + "…"


def parse_since(text: str, now: float | None = None) -> float:
    """`--since`: a duration back from now (30s, 10m, 2h, 1d) or an ISO 8601 time."""
    match = _SINCE.fullmatch(text.strip())
    if match:
        return (time.time() if now is None else now) - int(match[1]) * _UNITS[match[2]]
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"--since expects e.g. 10m, 2h, 1d or an ISO 8601 time, not {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def router_line(raw: str, app_of_service, instance_of_address) -> LogLine | None:
    """A router line from one line of Traefik's JSON access log, or None when it is not an app's
    request. `app_of_service(name)` maps Traefik's ServiceName (`<app>-web@consulcatalog`) to an
    app; `instance_of_address("ip:port")` names the instance that answered. The query string is
    dropped: it may carry tokens, and the history is shown to every collaborator and drained."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    app = app_of_service(str(entry.get("ServiceName", "")).split("@", 1)[0])
    if not app:
        return None
    path = str(entry.get("RequestPath", "")).split("?", 1)[0]
    duration_ms = float(entry.get("Duration", 0) or 0) / 1e6
    addr = urlsplit(str(entry.get("ServiceURL", ""))).netloc or str(entry.get("ServiceAddr", ""))
    instance = instance_of_address(addr) or "-"
    started = str(entry.get("StartUTC", ""))
    try:
        ts = datetime.fromisoformat(started[:26].rstrip("Z") + "+00:00").timestamp() if started else time.time()
    except ValueError:
        ts = time.time()
    text = (f'{entry.get("RequestMethod", "?")} {bounded(path)} {entry.get("DownstreamStatus", "?")} '
            f"{duration_ms:.1f}ms instance={instance}")
    return LogLine(ts=ts, app=app, source=ROUTER, type=ROUTER, text=text)


# ---------------------------------------------------------------------------------- drains
@dataclass(frozen=True)
class DrainPolicy:
    """Where drains may send lines. By default only public addresses: loopback, private,
    link-local (cloud metadata), multicast and reserved ones are refused, since the controller
    would otherwise connect to the platform's own services for a tenant. `allowed_networks`
    (PAAS_DRAIN_ALLOW_NETWORKS) lets an operator admit a site's own log host; `forbidden_ports`
    (the platform's Consul, registry, controller, router...) stay refused even there."""

    allowed_networks: tuple[str, ...] = ()
    forbidden_ports: frozenset[int] = frozenset()

    def check_address(self, address: str, port: int) -> None:
        ip = ipaddress.ip_address(address)
        if any(ip in ipaddress.ip_network(net, strict=False) for net in self.allowed_networks):
            if port in self.forbidden_ports:
                raise ValidationError(f"A drain may not send to the platform's own service on port {port}")
            return
        if not ip.is_global or ip.is_multicast:
            raise ValidationError(f"A drain may not send to {address}: not a public address")


@dataclass(frozen=True)
class DrainUrl:
    scheme: str
    host: str
    port: int
    url: str

    def masked(self) -> str:
        """The URL as listed: without credentials or query (drain tokens live there)."""
        path = urlsplit(self.url).path
        return f"{self.scheme}://{self.host}:{self.port}{path}"


def parse_drain_url(url: str) -> DrainUrl:
    """syslog://host:port (RFC 5424 over TCP, octet-counted) or https://host[:port]/path."""
    if not isinstance(url, str) or len(url) > 2048 or any(c in url for c in "\r\n\t \\"):
        raise ValidationError("A drain is syslog://host:port or https://host/path")
    parts = urlsplit(url)
    if parts.scheme not in DRAIN_SCHEMES:
        raise ValidationError("A drain is syslog://host:port or https://host/path")
    try:
        port = parts.port
    except ValueError:
        raise ValidationError("The drain's port is not a number from 1 to 65535") from None
    host = parts.hostname or ""
    if not host or not (_HOST.fullmatch(host) or _is_ip(host)):
        raise ValidationError("The drain URL names no valid host")
    if parts.scheme == "syslog" and (port is None or parts.path not in ("", "/") or parts.query):
        raise ValidationError("A syslog drain is syslog://host:port, nothing more")
    return DrainUrl(parts.scheme, host.lower(), port or 443, url)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


MAX_DRAINS_PER_APP = 5


@dataclass(frozen=True)
class Drain:
    """A log drain of an app. `url` is the whole URL (it may carry a token); it is listed masked."""

    id: str
    app: str
    url: str
    created_at: str

    def to_dict(self) -> dict:
        return asdict(self)

    def listed(self) -> dict:
        return {"id": self.id, "url": parse_drain_url(self.url).masked(), "created_at": self.created_at}


def syslog_frame(line: LogLine) -> bytes:
    """One line as RFC 5424 (facility user, severity info), octet-counted (RFC 6587), as Heroku
    sends: HOSTNAME the app, APP-NAME `app` (the platform's own lines: `paas`), PROCID the source."""
    stamp = datetime.fromtimestamp(line.ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    app_name = "app" if line.type not in (ROUTER, RELEASE) else "paas"
    text = line.text.replace("\n", " ")
    message = f"<14>1 {stamp} {line.app} {app_name} {line.source} - - {text}".encode("utf-8", "replace")
    return f"{len(message)} ".encode() + message
