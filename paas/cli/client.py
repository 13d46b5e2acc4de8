"""The controller's HTTP API, through requests. Turns every failure into a CLIError."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from importlib import metadata
from typing import Any
from urllib.parse import quote

import requests
import urllib3

from paas.domain.lines import split_lines

from .errors import APIError, CLIError

# Connect fast; reads may be long because builds and rollbacks deploy before answering.
TIMEOUT = (10, 900)


def api_path(*segments: str | int) -> str:
    """'/v1/' + the segments, each quoted so names can never add path components."""
    return "/v1/" + "/".join(quote(str(segment), safe="") for segment in segments)


def cli_version() -> str:
    try:
        return metadata.version("paas")
    except metadata.PackageNotFoundError:
        return "dev"


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: tuple[float, float] = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"paas-cli/{cli_version()}"
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body=body, params=params)

    def patch(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        return self.request("PATCH", path, body=body, params=params)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON body, or None for an empty answer (204)."""
        response = self._send(method, path, body=body, params=params)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CLIError(
                f"The controller at {self.url} answered {method} {path} with something that is not JSON "
                "(is PAAS_URL right?)"
            ) from None

    def stream(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        accept: str = "*/*",
    ) -> requests.Response:
        """An open response whose body is read as it arrives (logs, one-off runs).

        There is no read timeout: a followed log or a long command may be quiet for a long time.
        The caller closes the response (it is a context manager)."""
        return self._send(method, path, body=body, params=params, stream=True, accept=accept)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        stream: bool = False,
        accept: str | None = None,
    ) -> requests.Response:
        url = self.url + path
        params = {k: v for k, v in (params or {}).items() if v is not None}
        timeout = (self.timeout[0], None) if stream else self.timeout
        try:
            response = self.session.request(
                method,
                url,
                json=body,
                params=params or None,
                timeout=timeout,
                allow_redirects=False,
                stream=stream,
                headers={"Accept": accept} if accept else None,
            )
        except requests.Timeout:
            raise CLIError(f"The controller at {self.url} did not answer in time") from None
        except requests.ConnectionError as exc:
            raise CLIError(f"Cannot connect to the controller at {self.url}: {_connection_reason(exc)}") from None
        except requests.RequestException as exc:
            raise CLIError(f"Request to the controller at {self.url} failed: {type(exc).__name__}") from None
        if response.status_code >= 400:
            try:
                raise error_from_response(response)
            finally:
                response.close()
        return response


def iter_lines(response: requests.Response, chunk_size: int = 65536) -> Iterator[str]:
    """The lines of a streamed body (without their newline) as soon as each one is complete.

    requests' iter_lines waits for a full chunk_size on a body that is not chunked; read1
    returns whatever has arrived."""
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    chunks: Iterator[bytes]
    if read1 is not None:
        chunks = iter(lambda: read1(chunk_size, decode_content=True), b"")
    else:  # urllib3 1.x
        chunks = response.iter_content(chunk_size=1)
    try:
        yield from split_lines(chunks)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        # urllib3's errors (e.g. a chunked body cut short) are not RequestExceptions when read raw.
        raise CLIError(f"Lost the connection to the controller: {type(exc).__name__}") from None


def error_from_response(response: requests.Response) -> APIError:
    status = response.status_code
    message = f"HTTP {status} {response.reason or ''}".strip()
    errors: dict[str, Any] = {}
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        # flask-smorest's own validation errors carry a status text and field errors but no message.
        for key in ("message", "status"):
            if isinstance(data.get(key), str) and data[key]:
                message = data[key]
                break
        if isinstance(data.get("errors"), dict):
            errors = data["errors"]
    return APIError(status, message, errors)


def _connection_reason(exc: BaseException) -> str:
    """A short reason from the chain urllib3 wraps around the socket error."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused (is the controller running?)"
        if isinstance(current, socket.gaierror):
            return "unknown host"
        if isinstance(current, BaseException):
            pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
            pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused (is the controller running?)"
    return type(exc).__name__
