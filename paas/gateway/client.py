"""The gateway's HTTP client to the controller."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO

import requests

from paas.config import ACT_AS_HEADER


class ControllerError(Exception):
    """The controller refused or could not be reached; the message is for the pusher."""


class GatewayClient:
    def __init__(self, url: str, token: str, timeout: float = 10):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def _get(self, path: str, params: dict) -> requests.Response:
        try:
            return self.session.get(self.url + path, params=params, timeout=self.timeout)
        except requests.RequestException:
            raise ControllerError(f"The platform controller at {self.url} is unreachable") from None

    def key_owner(self, fingerprint: str) -> str | None:
        response = self._get("/v1/gateway/key-owner", {"fingerprint": fingerprint})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ControllerError(f"Key lookup failed: HTTP {response.status_code}")
        return response.json()["username"]

    def app_access(self, app: str, username: str) -> str | None:
        """The app's id when the user may use the app; None when it does not exist or the user
        may not use it (the two are one answer: the gateway must not tell them apart)."""
        response = self._get(f"/v1/gateway/apps/{app}/access", {"username": username})
        if response.status_code != 200:
            raise ControllerError(f"Access check failed: HTTP {response.status_code}")
        body = response.json()
        return str(body["id"]) if body.get("allowed") and body.get("id") else None

    def build_source(self, app: str, username: str, tarball: IO[bytes], git_sha: str,
                     received_since: float | None = None) -> Iterator[dict]:
        """Upload the source and yield the NDJSON events of the build as they arrive."""
        try:
            response = self.session.post(
                f"{self.url}/v1/apps/{app}/builds/source",
                params={"git_sha": git_sha, **({"received_since": f"{received_since:.3f}"} if received_since else {})},
                data=tarball,
                headers={ACT_AS_HEADER: username, "Content-Type": "application/octet-stream"},
                stream=True,
                timeout=(self.timeout, 3600),
            )
        except requests.RequestException:
            raise ControllerError(f"The platform controller at {self.url} is unreachable") from None
        with response:
            if response.status_code != 200:
                try:
                    message = response.json().get("message", "")
                except ValueError:
                    message = ""
                raise ControllerError(message or f"The build request failed: HTTP {response.status_code}")
            for line in response.iter_lines(chunk_size=1):
                if line:
                    yield json.loads(line)
