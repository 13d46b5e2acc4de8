"""Requests through the platform's router as a client on another host would send them: to
Traefik's entrypoint with a Host header (HTTP) or an SNI name (HTTPS), without DNS. For tests and
benchmarks (`curl -H 'Host: app.paas.test' http://127.0.0.1:8080/` in Python).

Keeps one keep-alive connection per (scheme, host) so latency figures measure the router, not
connection setup."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from paas.config import REPO_DIR


@dataclass(frozen=True)
class RouterAddress:
    """Where Traefik's entrypoints listen (scripts/services.sh traefik)."""

    http_port: int = 8080
    https_port: int = 8443
    address: str = "127.0.0.1"
    router_dir: Path = REPO_DIR / ".run" / "router"

    @classmethod
    def from_env(cls) -> RouterAddress:
        """PAAS_HTTP_PORT, PAAS_HTTPS_PORT, PAAS_ROUTER_DIR; unset ones from .run/traefik.env."""
        saved: dict[str, str] = {}
        env_file = REPO_DIR / ".run" / "traefik.env"
        if env_file.is_file():
            for line in env_file.read_text().splitlines():
                name, sep, value = line.partition("=")
                if sep:
                    saved[name.strip()] = value.strip()

        def get(name: str, default: str) -> str:
            return os.environ.get(name) or saved.get(name) or default

        return cls(
            http_port=int(get("PAAS_HTTP_PORT", str(cls.http_port))),
            https_port=int(get("PAAS_HTTPS_PORT", str(cls.https_port))),
            router_dir=Path(get("PAAS_ROUTER_DIR", str(cls.router_dir))),
        )


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    peer_cert: bytes | None = None  # DER of the certificate the router presented (HTTPS)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address with `host` only as the SNI name and Host header."""

    def __init__(self, host: str, port: int, address: str, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PlainConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, **kwargs):
        super().__init__(host, port, **kwargs)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass
class RouterClient:
    """GET (or any method) through the router. verify: a CA file (PEM) to verify HTTPS against,
    or False to accept any certificate (the test then compares peer_cert itself)."""

    router: RouterAddress = field(default_factory=RouterAddress.from_env)
    timeout: float = 5.0
    verify: str | bool = False
    _conns: dict = field(default_factory=dict, repr=False)

    def request(self, host: str, path: str = "/", *, https: bool = False, method: str = "GET",
                headers: dict[str, str] | None = None, fresh: bool = False) -> Response:
        """fresh: a new connection (a new TLS handshake: the certificate Traefik picks now)."""
        key = (https, host)
        if fresh and key in self._conns:
            self._conns.pop(key).close()
        conn = self._conns.get(key)
        if conn is None:
            conn = self._connect(host, https)
            self._conns[key] = conn
        try:
            conn.request(method, path, headers={"Host": host, **(headers or {})})
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._conns.pop(key, None)
            raise
        peer = conn.sock.getpeercert(binary_form=True) if https and conn.sock else None
        if resp.will_close:
            conn.close()
            self._conns.pop(key, None)
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, peer)

    def get(self, host: str, path: str = "/", **kwargs) -> Response:
        return self.request(host, path, **kwargs)

    def status(self, host: str, path: str = "/", **kwargs) -> int | None:
        """The status code, or None on a connection error (never raises)."""
        try:
            return self.request(host, path, **kwargs).status
        except (OSError, http.client.HTTPException):
            return None

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def _connect(self, host: str, https: bool) -> http.client.HTTPConnection:
        if not https:
            return _PlainConnection(host, self.router.http_port, self.router.address, timeout=self.timeout)
        if self.verify is False:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=self.verify if isinstance(self.verify, str) else None)
        return _SNIConnection(host, self.router.https_port, self.router.address, timeout=self.timeout, context=context)

