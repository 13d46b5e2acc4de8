"""Helpers for deploy tests: a prebuilt sample image, API calls as a user, Consul views."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from .. import harness
from ..conftest import unique, wait_until


class AppClient:
    """One user's view of one app through the real controller."""

    def __init__(self, url: str, token: str, app: str, consul_addr: str):
        self.base = f"{url}/v1/apps/{app}"
        self.url = url
        self.app = app
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.consul = consul_addr if "://" in consul_addr else f"http://{consul_addr}"

    def call(self, method: str, path: str = "", **kwargs) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=180, **kwargs)

    def ok(self, method: str, path: str = "", **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    def deploy_image(self, image: str, procfile: dict[str, str]) -> dict:
        return self.ok("POST", "/builds", json={"image": image, "procfile": procfile})

    def passing(self, process_type: str = "web") -> list[dict]:
        entries = harness.consul_session().get(f"{self.consul}/v1/health/service/{self.app}-{process_type}",
                                               params={"passing": "1"}, timeout=5).json()
        return entries

    def live_addresses(self) -> list[str]:
        return [f"{e['Service']['Address']}:{e['Service']['Port']}" for e in self.passing()
                if "canary" not in e["Service"]["Tags"]]

    def releases_serving(self) -> set[str]:
        return {t for e in self.passing() for t in e["Service"]["Tags"] if t.startswith("release=")}

    def wait_passing(self, count: int, release: int, timeout: float = 60) -> None:
        def ready() -> bool:
            live = [e for e in self.passing() if f"release=v{release}" in e["Service"]["Tags"]
                    and "canary" not in e["Service"]["Tags"]]
            return len(live) == count and self.releases_serving() == {f"release=v{release}"}

        wait_until(ready, timeout=timeout, interval=0.2, message=f"{count} passing v{release} instances")


@contextmanager
def pushed_flask_app(services, pusher, gateway, controller, settings, tmp_path: Path,
                     prefix: str) -> Iterator[tuple[Path, AppClient]]:
    """An app of `pusher` serving the flask sample, pushed with git through the gateway (release
    v2 passing); its repo and an API client. The app is destroyed afterwards."""
    from .conftest import sample_repo  # (conftest is loaded first; imported here, not at the top)

    owner = services.auth.get_user(pusher.user.username)
    name = unique(prefix)
    services.apps.create(owner, name)
    repo = sample_repo("flask", tmp_path)
    subprocess.run(["git", "remote", "add", "paas", gateway.url(name)], cwd=repo, check=True)
    client = AppClient(controller.url, pusher.user.token, name, settings.consul_addr)
    client.ok("PATCH", "/formation", json={"update": {"healthy_deadline": 60, "drain_time": 1}})
    pushed = pusher.git(repo, "push", "paas", "main", check=False)
    assert pushed.returncode == 0, pushed.stderr
    client.wait_passing(1, release=2, timeout=30)
    try:
        yield repo, client
    finally:
        services.apps.destroy(owner, name)
