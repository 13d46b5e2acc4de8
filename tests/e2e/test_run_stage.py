"""Run stage v2, as a user sees it (issue 11): failures explain themselves and come fast, the
current release is the live one, calls return once the new release serves, crash loops show,
and the Consul catalog holds exactly the instances that exist."""

from __future__ import annotations

import random
import subprocess
import time

import git
import pytest
import requests

from .. import harness
from ..conftest import wait_until
from .deploy_support import pushed_flask_app
from .test_deploy import WEB_AND_WORKER, Hammer, deployed, flask_image  # noqa: F401 - fixtures

# A worker that ignores SIGTERM (as a naive Python loop, node or busybox httpd do).
STUBBORN_WORKER = ("python -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                   "[time.sleep(1) for _ in iter(int, 1)]'")


@pytest.fixture
def pusher(make_pusher):
    return make_pusher("runner")


@pytest.fixture
def pushed_app(services, pusher, gateway, controller, settings, tmp_path):
    """An app of `pusher` serving the flask sample, pushed with git; its repo and an API client."""
    with pushed_flask_app(services, pusher, gateway, controller, settings, tmp_path, "run") as pushed:
        yield pushed


def push_lines(pusher, repo) -> tuple[int, list[tuple[float, str]]]:
    proc = subprocess.Popen(["git", "push", "paas", "main"], cwd=repo, env=pusher.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = [(time.monotonic(), line.rstrip("\n")) for line in proc.stdout]
    return proc.wait(timeout=600), lines


def test_a_push_that_exits_at_start_is_rejected_with_its_own_output_and_the_live_release_stays_current(
        pusher, pushed_app):
    repo, client = pushed_app
    app_py = repo / "app.py"
    app_py.write_text('import sys\nprint("boom: DATABASE_URL is not set", flush=True)\nsys.exit(3)\n'
                      + app_py.read_text())
    git.Repo(repo).git.commit("-am", "crash at start")
    with Hammer(client) as hammer:
        status, lines = push_lines(pusher, repo)
    text = "\n".join(line for _, line in lines)
    assert status != 0, text
    assert "boom: DATABASE_URL is not set" in text, text  # the process's own last lines
    assert "exited with code" in text, text
    # (The image push runs beside the rollout, so the canaries' start is the moment to count from.)
    started_at = next(at for at, line in lines if "starting canaries" in line)
    rejected_at = next(at for at, line in lines if "Push rejected" in line)
    # Fail fast: far from the 60 s healthy_deadline (the container exits in about a second).
    assert rejected_at - started_at < 30, (rejected_at - started_at, text)
    assert hammer.failed == 0 and hammer.ok > 0

    info = client.ok("GET")
    assert info["release"] == 2  # current means live
    failed = client.ok("GET", "/releases/3")
    assert failed["failed"] and "boom: DATABASE_URL is not set" in failed["failure_reason"]
    history = client.ok("GET", "/deployments")["results"]
    assert history[0]["status"] == "failed" and history[0]["failure"]["exit_code"] is not None
    assert "boom: DATABASE_URL is not set" in "\n".join(history[0]["failure"]["last_lines"])

    # The next change builds on the live build, not on the failed one, and goes live.
    changed = client.ok("PATCH", "/config", json={"values": {"GREETING": "Salut"}})
    assert changed["release"]["version"] == 4 and changed["deployment"]["promoted"], changed
    assert changed["release"]["build_id"] == client.ok("GET", "/releases/2")["build_id"]
    client.wait_passing(1, release=4, timeout=20)
    # Rollback without a version goes to the previous release that deployed: v2, not failed v3.
    rolled = client.ok("POST", "/releases/rollback", json={})
    assert "v2" in rolled["summary"] and rolled["deployment"]["promoted"], rolled


def test_an_http_check_answering_500_fails_the_deploy_fast_naming_the_status(deployed):  # noqa: F811
    deployed.ok("PATCH", "/formation", json={"healthchecks": {"web": "/health"}, "update": {"healthy_deadline": 60}})
    started = time.monotonic()
    with Hammer(deployed) as hammer:
        changed = deployed.ok("PATCH", "/config", json={"values": {"HEALTH_STATUS": "503"}})
    elapsed = time.monotonic() - started
    deployment = changed["deployment"]
    assert deployment["status"] == "failed", deployment
    assert "HTTP 503" in deployment["description"], deployment
    assert elapsed < 30, f"failed after {elapsed:.1f}s: the 60 s healthy_deadline was waited for"
    assert hammer.failed == 0 and hammer.ok > 0
    assert deployed.releases_serving() == {"release=v2"}
    assert deployed.ok("GET")["release"] == 2


def test_a_slow_starter_that_binds_after_8s_still_deploys_with_no_failed_request(deployed, flask_image):  # noqa: F811
    deployed.ok("PATCH", "/formation", json={"update": {"healthy_deadline": 40}})
    slow = {**WEB_AND_WORKER, "web": "sleep 8 && exec " + WEB_AND_WORKER["web"]}
    with Hammer(deployed) as hammer:
        created = deployed.deploy_image(flask_image, slow)
    assert created["deployment"]["promoted"], created["deployment"]
    assert hammer.failed == 0 and hammer.ok > 0
    deployed.wait_passing(1, release=created["release"]["version"], timeout=20)


def test_a_failed_health_check_change_is_withdrawn_and_the_previous_check_stays(deployed):  # noqa: F811
    deployed.ok("PATCH", "/formation", json={"healthchecks": {"web": "/health"}})
    response = deployed.call("PATCH", "/formation", json={"healthchecks": {"web": "/missing"}})
    body = response.json()
    deployment = body.get("deployment") or {}
    assert deployment.get("status") == "failed", body
    assert "HTTP 404" in deployment["description"] and "previous" in deployment["description"], deployment
    web = next(p for p in deployed.ok("GET", "/formation")["processes"] if p["type"] == "web")
    assert web["healthcheck"] == "/health"
    assert deployed.releases_serving() == {"release=v2"}


def test_a_worker_ignoring_sigterm_does_not_hold_up_the_change(deployed, flask_image, docker_client):  # noqa: F811
    deployed.ok("PATCH", "/formation", json={"update": {"stop_timeout": 20}})
    created = deployed.deploy_image(flask_image, {**WEB_AND_WORKER, "worker": STUBBORN_WORKER})
    version = created["release"]["version"]
    deployed.ok("PATCH", "/formation", json={"quantities": {"worker": 1}})
    wait_until(lambda: any(i["type"] == "worker" and i["state"] == "running" and i["release"] == version
                           for i in deployed.ok("GET", "/ps")["instances"]), timeout=30, message="the worker")
    changed = deployed.ok("PATCH", "/config", json={"values": {"GREETING": "Hola"}})
    assert changed["deployment"]["promoted"], changed["deployment"]
    # The call returned while the old worker still ignores its SIGTERM (SIGKILL comes after 20 s).
    old = [c for c in docker_client.containers.list(filters={"label": [f"paas.app={deployed.app}",
                                                                      "paas.type=worker"]})
           if c.labels.get("paas.release") == str(version)]
    assert old, "the old worker was already gone: the call waited for its stop timeout"
    phases = deployed.ok("GET", "/deployments")["results"][0]
    assert phases["phase"] in ("retiring", "successful")
    wait_until(lambda: deployed.ok("GET", "/deployments")["results"][0]["status"] == "successful", timeout=60,
               interval=0.5, message="the old worker killed after its stop timeout")


def test_a_crash_looping_worker_shows_restarts_and_never_passes(deployed, flask_image):  # noqa: F811
    # Lives long enough to be promoted (min_healthy_time 1 s), then crashes again and again.
    looping = {**WEB_AND_WORKER, "worker": "sleep 5; echo dying; exit 4"}
    deployed.ok("PATCH", "/formation", json={"quantities": {"worker": 1}, "update": {"min_healthy_time": 1}})
    assert deployed.deploy_image(flask_image, looping)["deployment"]["promoted"]

    def crashed() -> dict | None:
        workers = [i for i in deployed.ok("GET", "/ps")["instances"] if i["type"] == "worker"]
        return next((w for w in workers if w["restarts"] >= 2), None)

    worker = wait_until(crashed, timeout=90, interval=0.5, message="a worker restarted twice")
    assert worker["state"] == "crashed" and worker["health"] != "passing", worker


def test_the_catalog_ends_equal_to_the_running_containers_after_50_kills(deployed, docker_client):  # noqa: F811
    deployed.ok("PATCH", "/formation", json={"quantities": {"web": 2, "worker": 1}})
    deployed.wait_passing(2, release=2, timeout=30)
    label = {"label": [f"paas.app={deployed.app}", "paas.role=instance"]}
    rng = random.Random(11)
    for round_ in range(50):
        running = docker_client.containers.list(filters=label)
        if running:
            victim = rng.choice(running)
            if round_ % 5 == 4:
                victim.remove(force=True)  # vanished behind the platform's back
            else:
                victim.kill()
        time.sleep(0.2)  # a kill every 200 ms, faster than replacements settle

    def consistent() -> bool:
        running = {c.name for c in docker_client.containers.list(filters=label)}
        registered = {sid for sid, svc in harness.consul_session().get(
            f"{deployed.consul}/v1/agent/services", timeout=5).json().items()
            if (svc.get("Meta") or {}).get("app") == deployed.app}
        return len(running) == 3 and registered == running

    wait_until(consistent, timeout=90, interval=0.5, message="catalog == running containers, 2 web + 1 worker")
    deployed.wait_passing(2, release=2, timeout=30)
    assert requests.get(f"http://{deployed.live_addresses()[0]}/", timeout=5).status_code == 200
