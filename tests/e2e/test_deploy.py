"""The Run stage through the real controller, Docker and Consul: canary-then-promote, failed
deploys that keep the old release serving, crash replacement, scale, one-off runs and logs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import docker
import pytest
import requests

from ..conftest import unique, wait_until
from ..integration.builder_support import sample_image
from .deploy_support import AppClient

WEB_AND_WORKER = {"web": "gunicorn --bind 0.0.0.0:$PORT --workers 2 app:app", "worker": "python worker.py"}


@pytest.fixture(scope="session")
def flask_image(services, docker_client) -> Iterator[str]:
    """The Flask sample, built once through the real builder (no release: tests deploy it).

    Tagged locally outside the platform's registry: an image in the registry belongs to the app
    it was built for, and the tests deploy this one into many apps."""
    with sample_image(services.builds.builder, docker_client, "flask", "paas-e2e/flask") as (local, _):
        yield local


@pytest.fixture
def deployed(controller, services, make_user, flask_image, settings):
    user = make_user("deployer")
    name = unique("dep")
    client = AppClient(controller.url, user.token, name, settings.consul_addr)
    requests.post(f"{controller.url}/v1/apps", json={"name": name}, headers=user.headers, timeout=10)
    client.ok("PATCH", "/formation", json={"update": {"healthy_deadline": 20, "drain_time": 1}})
    created = client.deploy_image(flask_image, WEB_AND_WORKER)
    assert created["deployment"]["promoted"], created["deployment"]
    yield client
    client.call("DELETE")


class Hammer:
    """Requests the live instances (as Consul lists them) without pause; counts failures."""

    def __init__(self, client: AppClient):
        self.client = client
        self.ok = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            for address in self.client.live_addresses():
                try:
                    good = session.get(f"http://{address}/", timeout=5).status_code == 200
                except requests.RequestException:
                    good = False
                self.ok, self.failed = self.ok + good, self.failed + (not good)


def test_scale_config_change_and_rollback_roll_canaries(deployed):
    deployed.ok("PATCH", "/formation", json={"quantities": {"web": 3}})
    deployed.wait_passing(3, release=2)

    changed = deployed.ok("PATCH", "/config", json={"values": {"GREETING": "Bonjour"}})
    assert changed["deployment"]["promoted"] and changed["deployment"]["release"] == 3
    deployed.wait_passing(3, release=3, timeout=15)
    answers = {requests.get(f"http://{a}/", timeout=5).text.split()[0] for a in deployed.live_addresses()}
    assert answers == {"Bonjour"}
    # The call returned once v3 served; the previous instances then drain and stop.
    wait_until(lambda: not [i for i in deployed.ok("GET", "/ps")["instances"] if i["release"] != 3], timeout=20,
               interval=0.2, message="the v2 instances retired")

    rolled = deployed.ok("POST", "/releases/rollback", json={"version": 2})
    assert rolled["version"] == 4 and rolled["deployment"]["promoted"]
    deployed.wait_passing(3, release=4, timeout=15)
    answers = {requests.get(f"http://{a}/", timeout=5).text.split()[0] for a in deployed.live_addresses()}
    assert answers == {"Hello"}


def test_a_release_that_crashes_on_start_fails_and_the_old_one_keeps_serving(deployed, flask_image):
    with Hammer(deployed) as hammer:
        created = deployed.deploy_image(flask_image, {**WEB_AND_WORKER, "web": "echo boom; exit 3"})
    assert created["deployment"]["status"] == "failed"
    assert "exited" in created["deployment"]["description"] or "crash" in created["deployment"]["description"]
    release = deployed.ok("GET", f"/releases/{created['release']['version']}")
    assert release["failed"] and release["failure_reason"]
    assert hammer.failed == 0 and hammer.ok > 0
    assert deployed.releases_serving() == {"release=v2"}
    # The failed canaries are removed in the background, within moments.
    wait_until(lambda: {i["release"] for i in deployed.ok("GET", "/ps")["instances"]} == {2}, timeout=10,
               message="only v2's instances in ps")


def test_a_release_whose_health_check_fails_is_not_promoted(deployed):
    deployed.ok("PATCH", "/formation", json={"healthchecks": {"web": "/health"}, "update": {"healthy_deadline": 30}})
    with Hammer(deployed) as hammer:
        changed = deployed.ok("PATCH", "/config", json={"values": {"HEALTH_STATUS": "500"}})
    assert changed["deployment"]["status"] == "failed"
    assert "HTTP 500" in changed["deployment"]["description"]  # failed fast, naming what the check got
    # Health checks changed by a rolling restart (no release); the config change is v3.
    assert changed["release"]["version"] == 3
    assert deployed.ok("GET", "/releases/3")["failed"] is True
    assert hammer.failed == 0 and hammer.ok > 0
    assert len(deployed.live_addresses()) == 1 and deployed.releases_serving() == {"release=v2"}


def test_a_killed_instance_is_replaced(deployed, docker_client):
    web = [i for i in deployed.ok("GET", "/ps")["instances"] if i["type"] == "web"][0]
    docker_client.containers.get(web["id"]).kill()

    def replaced() -> bool:
        instances = [i for i in deployed.ok("GET", "/ps")["instances"] if i["type"] == "web"]
        return [i["id"] for i in instances if i["health"] == "passing"] not in ([], [web["id"]])

    wait_until(replaced, timeout=10, interval=0.2, message="a healthy replacement instance")
    deployed.wait_passing(1, release=2, timeout=10)


def test_run_passes_output_and_exit_code_through(deployed):
    response = deployed.call("POST", "/run", json={"command": "echo hello from $PAAS_APP; exit 7"}, stream=True)
    events = [requests.compat.json.loads(line) for line in response.iter_lines() if line]
    assert {"log": f"hello from {deployed.app}"} in events
    assert events[-1] == {"exit_code": 7}


def test_logs_follow_shows_new_lines_as_they_are_written(deployed):
    deployed.ok("PATCH", "/config", json={"values": {"WORKER_INTERVAL": "0.3"}})
    deployed.ok("PATCH", "/formation", json={"quantities": {"worker": 1}})
    wait_until(lambda: any(i["type"] == "worker" and i["state"] == "running"
                           for i in deployed.ok("GET", "/ps")["instances"]), timeout=30, message="a worker")
    response = deployed.session.get(deployed.base + "/logs", params={"follow": "true", "type": "worker", "tail": "0"},
                                    stream=True, timeout=30)
    seen: list[str] = []
    for line in response.iter_lines(decode_unicode=True):
        if "tick" in line:
            seen.append(line)
        if len(seen) >= 3:
            break
    response.close()
    assert all(" worker." in line for line in seen)  # "<time> worker.1a2b3c: tick"


def test_ps_scale_to_zero_and_back(deployed):
    deployed.ok("PATCH", "/formation", json={"quantities": {"web": 0}})
    wait_until(lambda: deployed.passing() == [], timeout=20, message="web scaled to 0")
    deployed.ok("PATCH", "/formation", json={"quantities": {"web": 2}})
    deployed.wait_passing(2, release=2)


def test_restart_rolls_new_instances(deployed):
    before = {i["id"] for i in deployed.ok("GET", "/ps")["instances"]}
    restarted = deployed.ok("POST", "/ps/restart", json={})
    assert restarted["deployment"]["promoted"]
    after = wait_until(lambda: (lambda ids: ids if ids and not before & ids else None)(
        {i["id"] for i in deployed.ok("GET", "/ps")["instances"]}), timeout=20, interval=0.2,
        message="only fresh instances left")
    assert after


def test_destroying_the_app_removes_its_containers(controller, make_user, flask_image, settings):
    user = make_user()
    name = unique("gone")
    client = AppClient(controller.url, user.token, name, settings.consul_addr)
    requests.post(f"{controller.url}/v1/apps", json={"name": name}, headers=user.headers, timeout=10)
    client.deploy_image(flask_image, WEB_AND_WORKER)
    client.ok("DELETE")
    assert docker.from_env().containers.list(all=True, filters={"label": f"paas.app={name}"}) == []
    assert client.passing() == []


def test_a_controller_killed_mid_rollout_is_finished_by_the_next_one(settings, flask_image, tmp_path, docker_client):
    """Its own controller on its own KV prefix, so no other supervisor can take over."""
    from dataclasses import replace

    from paas.wiring import build_services

    from .. import harness

    own = replace(settings, kv_prefix=unique("paas-test-crash"))
    services = build_services(own)
    user, token = services.auth.register(unique("crash"), "correct-horse-battery")
    env = {"CONSUL_HTTP_ADDR": own.consul_addr, "PAAS_KV_PREFIX": own.kv_prefix, "PAAS_DATA_DIR": str(tmp_path),
           "PAAS_WORKERS": "1"}
    first, url = harness.start_controller(env, tmp_path / "first.log")
    name = unique("crash")
    client = AppClient(url, token, name, own.consul_addr)
    try:
        requests.post(f"{url}/v1/apps", json={"name": name}, headers={"Authorization": f"Bearer {token}"},
                      timeout=10)
        client.ok("PATCH", "/formation", json={"update": {"min_healthy_time": 3, "healthy_deadline": 60}})
        assert client.deploy_image(flask_image, WEB_AND_WORKER)["deployment"]["promoted"]
        client.ok("PATCH", "/config", params={"wait": "false"}, json={"values": {"GREETING": "Again"}})
        wait_until(lambda: any(i["canary"] for i in client.ok("GET", "/ps")["instances"]), timeout=30,
                   message="canaries of v3")
        first.kill()  # SIGKILL to the master: its workers die with it (PR_SET_PDEATHSIG), no cleanup
        first.wait()

        def gone() -> bool:
            try:
                requests.get(f"{url}/healthz", timeout=1)
                return False
            except requests.ConnectionError:
                return True

        wait_until(gone, timeout=10, message="the killed controller's workers to die with it")
        second, url = harness.start_controller(env, tmp_path / "second.log")
        try:
            client = AppClient(url, token, name, own.consul_addr)

            def finished() -> dict | None:
                deployment = client.ok("GET", "/ps")["deployment"]
                done = deployment and deployment["release"] == 3 and deployment["status"] != "running"
                return deployment if done else None

            outcome = wait_until(finished, timeout=90, interval=0.5, message="the rollout to finish")
            assert outcome["release"] == 3 and outcome["status"] in ("successful", "failed")
            live = 3 if outcome["status"] == "successful" else 2
            client.wait_passing(1, release=live, timeout=20)

            def labels() -> list[dict]:
                return [c.labels for c in docker_client.containers.list(
                    all=True, filters={"label": f"paas.app={name}"}, ignore_removed=True)]

            # web=1, worker=0: nothing left over from the killed rollout, once the background
            # stops of the previous instances are done.
            wait_until(lambda: len(labels()) == 1, timeout=20, message="one instance left")
            assert {lab["paas.release"] for lab in labels()} == {str(live)}
        finally:
            client.call("DELETE")
            harness.stop(second)
    finally:
        if first.poll() is None:
            harness.stop(first)
        services.kv.txn([{"KV": {"Verb": "delete-tree", "Key": own.kv_prefix + "/"}}])


def test_worker_instances_are_in_the_consul_catalog_without_routes(deployed):
    deployed.ok("PATCH", "/formation", json={"quantities": {"worker": 2}})

    def registered() -> list[dict]:
        entries = deployed.passing("worker")
        return entries if len(entries) == 2 else []

    entries = wait_until(registered, timeout=30, message="2 worker instances in Consul")
    for entry in entries:
        tags = entry["Service"]["Tags"]
        assert "release=v2" in tags and "live" in tags
        assert not any(tag.startswith("traefik.") for tag in tags)
