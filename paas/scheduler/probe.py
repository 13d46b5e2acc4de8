"""The schedulers' own probe of a web canary, made each time the platform observes a rollout, so a
verdict carries what the check got ("HTTP 500: <body excerpt>", "connection refused") at once,
and only this result tells "answered 500" from "not listening yet" (domain/deployments.py judge).

With a check path: HTTP GET of it, 2xx passes (Consul's rule). Without one: HTTP GET / and any
HTTP answer passes: a web process must speak HTTP, and a bare TCP connect would pass a server
that accepts but cannot answer (gunicorn's master binds the port before its workers have failed
to import the app). The controller must reach the instances (Docker: their bridge addresses;
Nomad: the allocations' host ports, as the router does; docs/nomad.md)."""

from __future__ import annotations

import socket  # socket.timeout: what a read timeout may surface as
from concurrent.futures import ThreadPoolExecutor

import requests

from paas.domain.scheduler import CheckResult

EXCERPT = 120  # characters of a failing answer's body kept in the result
# Instances are on this host's bridge or the cluster's network: a connect is refused or done at
# once, and one that hangs (an address not up yet) must not hold the whole observation.
CONNECT_TIMEOUT = 0.25


def http_result(status: int, body: bytes) -> CheckResult:
    """What an HTTP answer means (Consul's rule: 2xx passes, 429 warns, anything else fails)."""
    if 200 <= status < 300:
        return CheckResult(passing=True, detail=f"HTTP {status}", answered=True)
    excerpt = " ".join(body.decode("utf-8", "replace").split())[:EXCERPT]
    return CheckResult(passing=False, detail=f"HTTP {status}: {excerpt}" if excerpt else f"HTTP {status}",
                       answered=True)


def error_result(exc: BaseException, timeout: float) -> CheckResult:
    """A probe that got no answer: refused (nothing listens yet), timed out, or another error."""
    text = str(exc)
    if isinstance(exc, requests.Timeout | socket.timeout | TimeoutError):
        return CheckResult(passing=False, detail=f"timed out after {timeout:g}s")
    if isinstance(exc, ConnectionRefusedError) or "Connection refused" in text or "refused" in text.lower():
        return CheckResult(passing=False, detail="connection refused")
    if isinstance(exc, requests.ConnectionError | ConnectionResetError) and "reset" in text.lower():
        return CheckResult(passing=False, detail="connection reset")
    return CheckResult(passing=False, detail=f"no answer ({type(exc).__name__})")


def probe(address: str, path: str | None, timeout: float) -> CheckResult:
    """HTTP GET http://address<path or />; see the module's docstring for what passes."""
    session = requests.Session()
    session.trust_env = False  # straight to the instance, never through a proxy from the environment
    try:
        with session, session.get(f"http://{address}{path or '/'}", timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
                                  stream=True,
                                  allow_redirects=False) as response:
            if not path:
                return CheckResult(passing=True, detail=f"HTTP {response.status_code} from GET /", answered=True)
            body = response.raw.read(EXCERPT * 4, decode_content=True) or b""
            return http_result(response.status_code, body)
    except (requests.RequestException, OSError) as exc:
        return error_result(exc, timeout)


def probe_all(targets: dict[str, tuple[str, str | None]], timeout: float) -> dict[str, CheckResult]:
    """Probe several instances at once: id -> (address, path)."""
    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(targets)), thread_name_prefix="paas-nomad-probe") as pool:
        futures = {key: pool.submit(probe, address, path, timeout) for key, (address, path) in targets.items()}
        return {key: future.result() for key, future in futures.items()}
