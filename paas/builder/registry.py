"""The platform registry's HTTP API v2, for what the Docker Engine cannot do: delete an app's
manifests. (Blobs are freed by `docker-registry garbage-collect`, scripts/registry-gc.sh.)"""

from __future__ import annotations

from urllib.parse import quote

import requests

MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
))


class RegistryError(Exception):
    pass


class RegistryClient:
    def __init__(self, address: str, username: str | None = None, password: str | None = None,
                 timeout: float = 10.0):
        # The registry is plain HTTP on loopback (scripts/services.sh); an https:// address is kept.
        self.base = address if "://" in address else f"http://{address}"
        self.auth = (username, password) if username and password else None
        self.timeout = timeout

    def _url(self, repository: str, *rest: str) -> str:
        return "/".join([self.base.rstrip("/"), "v2", quote(repository, safe="/"), *rest])

    def tags(self, repository: str) -> list[str]:
        response = requests.get(self._url(repository, "tags", "list"), auth=self.auth, timeout=self.timeout)
        if response.status_code == 404:
            return []
        self._check(response, "list tags of", repository)
        return list(response.json().get("tags") or [])

    def digest(self, repository: str, tag: str) -> str | None:
        response = requests.head(self._url(repository, "manifests", quote(tag, safe="")), auth=self.auth,
                                 headers={"Accept": MANIFEST_TYPES}, timeout=self.timeout)
        if response.status_code == 404:
            return None
        self._check(response, "read a manifest of", repository)
        return response.headers.get("Docker-Content-Digest")

    def delete_repository(self, repository: str) -> int:
        """Delete every manifest of the repository; the number of manifests deleted."""
        digests = {d for d in (self.digest(repository, tag) for tag in self.tags(repository)) if d}
        for digest in digests:
            response = requests.delete(self._url(repository, "manifests", digest), auth=self.auth,
                                       timeout=self.timeout)
            if response.status_code != 404:
                self._check(response, "delete a manifest of", repository)
        return len(digests)

    @staticmethod
    def _check(response: requests.Response, what: str, repository: str) -> None:
        if response.status_code >= 400:
            raise RegistryError(f"the registry refused to {what} {repository} (HTTP {response.status_code})")
