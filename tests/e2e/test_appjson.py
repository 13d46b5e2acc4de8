"""Health checks at the first deploy, over the real gateway, builder, Docker, Consul and Traefik:
an app.json check and a `healthchecks:set` made before the first push each keep a release whose
/health answers 500 from going live, and the push says which status the check got; an explicit
setting of the app beats app.json's, and the push says so."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import requests

from ..conftest import unique, wait_until
from .conftest import sample_repo
from .deploy_support import AppClient

SAMPLE = "appjson-health"  # / answers 200, /health 500; app.json checks web on /health


@pytest.fixture
def alice(make_pusher):
    return make_pusher("alice")


@pytest.fixture
def app(services, alice):
    owner = services.auth.get_user(alice.user.username)
    name = unique("appjson")
    services.apps.create(owner, name)
    yield name
    services.apps.destroy(owner, name)


@pytest.fixture
def client(controller, settings, alice, app) -> AppClient:
    return AppClient(controller.url, alice.user.token, app, settings.consul_addr)


def push(alice, repo, url: str) -> tuple[int, str]:
    result = alice.git(repo, "push", url, "main", check=False)
    return result.returncode, result.stdout + result.stderr


def refusals(text: str) -> list[str]:
    """The push's error lines (' !     ...'), as git shows them (after 'remote:')."""
    return [line for line in text.splitlines() if re.match(r"^remote:\s+!", line)]


def serves(services, app: str) -> bool:
    router = f"http://127.0.0.1:{os.environ.get('PAAS_HTTP_PORT', '8080')}/"
    try:
        response = requests.get(router, headers={"Host": f"{app}.{services.settings.platform_domain}"}, timeout=2)
    except requests.RequestException:
        return False
    return response.status_code == 200 and "appjson-health sample" in response.text


def without_app_json(tmp_path):
    repo = sample_repo(SAMPLE, tmp_path)
    subprocess.run(["git", "rm", "-q", "app.json"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "no app.json"],
                   cwd=repo, check=True)
    return repo


def test_an_app_json_check_keeps_a_failing_first_release_from_going_live(services, gateway, alice, app, tmp_path):
    repo = sample_repo(SAMPLE, tmp_path)
    status, text = push(alice, repo, gateway.url(app))
    assert status != 0, text
    assert "app.json: web: HTTP GET /health" in text  # the push says what app.json declares
    assert any(re.search(r"\b500\b", line) for line in refusals(text)), text
    assert not serves(services, app)


def test_a_check_set_before_the_first_push_applies_to_it(services, gateway, alice, app, client, tmp_path):
    repo = without_app_json(tmp_path)
    client.ok("PATCH", "/formation", json={"healthchecks": {"web": "/health"}})
    status, text = push(alice, repo, gateway.url(app))
    assert status != 0, text
    assert any(re.search(r"\b500\b", line) for line in refusals(text)), text
    assert not serves(services, app)

    # The check made the difference: without it the same code goes live (a TCP check passes).
    client.ok("PATCH", "/formation", json={"healthchecks": {"web": None}})
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty",
                    "-m", "again"], cwd=repo, check=True)
    status, text = push(alice, repo, gateway.url(app))
    assert status == 0, text
    wait_until(lambda: serves(services, app), timeout=15, message=f"{app} through the router")


def test_the_apps_own_check_beats_app_json_and_the_push_says_so(services, gateway, alice, app, client, tmp_path):
    repo = sample_repo(SAMPLE, tmp_path)
    client.ok("PATCH", "/formation", json={"healthchecks": {"web": "/"}})
    status, text = push(alice, repo, gateway.url(app))
    assert status == 0, text
    assert "app.json's health check of web (/health) is overridden by this app's /" in text
    wait_until(lambda: serves(services, app), timeout=15, message=f"{app} through the router")


def test_an_invalid_app_json_fails_the_build_naming_the_field(services, gateway, alice, app, tmp_path):
    repo = sample_repo(SAMPLE, tmp_path)
    (repo / "app.json").write_text('{"healthchecks": {"web": [{"path": "/health", "attempts": "three"}]}}')
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qam", "typo"],
                   cwd=repo, check=True)
    status, text = push(alice, repo, gateway.url(app))
    assert status != 0, text
    assert "healthchecks.web[0].attempts must be a whole number" in text
    assert not serves(services, app)


def test_a_symlinked_app_json_is_refused(services, gateway, alice, app, tmp_path):
    repo = sample_repo(SAMPLE, tmp_path)
    (repo / "real.json").write_text('{"healthchecks": {"web": [{"path": "/"}]}}')
    (repo / "app.json").unlink()
    (repo / "app.json").symlink_to("real.json")  # inside the tree: the archive keeps it, the builder refuses it
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "link"],
                   cwd=repo, check=True)
    status, text = push(alice, repo, gateway.url(app))
    assert status != 0, text
    assert "app.json is a symlink, which is refused" in text, text
    assert not serves(services, app)
