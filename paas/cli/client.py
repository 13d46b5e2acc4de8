"""The controller's HTTP API, through requests. Turns every failure into a CLIError."""

from __future__ import annotations

import socket
from importlib import metadata
from typing import Any
from urllib.parse import quote

import requests

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

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON body, or None for an empty answer (204)."""
        url = self.url + path
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self.session.request(
                method, url, json=body, params=params or None, timeout=self.timeout, allow_redirects=False
            )
        except requests.Timeout:
            raise CLIError(f"The controller at {self.url} did not answer in time") from None
        except requests.ConnectionError as exc:
            raise CLIError(f"Cannot connect to the controller at {self.url}: {_connection_reason(exc)}") from None
        except requests.RequestException as exc:
            raise CLIError(f"Request to the controller at {self.url} failed: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CLIError(
                f"The controller at {self.url} answered {method} {path} with something that is not JSON "
                "(is PAAS_URL right?)"
            ) from None


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
