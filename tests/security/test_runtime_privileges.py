"""Finding 10: app and one-off containers are unprivileged and bounded, and nothing outlives its
client.

A tenant deploys a Dockerfile app whose image names no USER (the tests/apps/dockerfile sample,
built by the real builder) and runs a probe inside an app instance and inside `paas run`: it
runs as a non-root uid, with no effective capability, with no-new-privileges, under a memory
limit, and a fork of 1,000 processes stops at the pids limit. A `paas run` whose client hangs up
is killed and removed within seconds; one that outlives PAAS_RUN_TIMEOUT is killed with a clear
message; an abandoned `logs -f` of a quiet app gives its request thread and readers back.
Everything goes through real gunicorn controllers, Docker and Consul."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Iterator

import docker
import pytest
import requests

from tests import harness
from tests.conftest import unique, wait_until
from tests.e2e.deploy_support import AppClient
from tests.integration.builder_support import APPS, sample_image
from tests.support.threads import settled_threads, worker_threads

RUN_TIMEOUT = 6
# Prints one line "PROBE {json}": who it runs as, its capabilities, its cgroup memory limit, and
# how many processes it could fork (each child execs sleep; all are killed and reaped after).
PROBE = r'''
import json, os, signal
def status(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields
memory = None
for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
    try:
        memory = open(path).read().strip()
        break
    except OSError:
        pass
kids, error = [], None
for _ in range(1000):
    try:
        pid = os.fork()
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
        break
    if pid == 0:
        try:
            os.execv("/bin/sleep", ["sleep", "60"])
        finally:
            os._exit(0)
    kids.append(pid)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
for pid in kids:
    os.waitpid(pid, 0)
me, first = status("self"), status(1)
print("PROBE " + json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "cap_eff": me["CapEff"], "cap_prm": me["CapPrm"],
    "no_new_privs": me["NoNewPrivs"], "pid1_uid": first["Uid"], "pid1_cap_eff": first["CapEff"],
    "pid1_no_new_privs": first["NoNewPrivs"], "memory": memory, "forked": len(kids), "error": error}), flush=True)
'''
PROBE_COMMAND = f"echo {base64.b64encode(PROBE.encode()).decode()} | base64 -d | python3"


def check_probe(found: dict, where: str) -> None:
    assert found["uid"] != 0 and found["euid"] != 0, f"{where} runs as root: {found}"
    assert found["uid"] == 10001, f"{where}: the image has no USER, so PAAS_APP_USER applies: {found}"
    assert int(found["cap_eff"], 16) == 0 and int(found["cap_prm"], 16) == 0, f"{where} has capabilities: {found}"
    assert found["no_new_privs"] == "1", f"{where} may gain privileges: {found}"
    assert found["pid1_uid"].split()[0] != "0" and int(found["pid1_cap_eff"], 16) == 0, found
    assert found["pid1_no_new_privs"] == "1", found
    assert found["memory"] and found["memory"] != "max" and int(found["memory"]) <= 1024**3, (
        f"{where} has no memory limit: {found}")
    assert found["forked"] < 1000 and found["error"] and "Resource temporarily unavailable" in found["error"], (
        f"{where} forked {found['forked']} processes: no pids limit ({found['error']})")


def probe_result(lines: list[str]) -> dict:
    marked = [line for line in lines if line.startswith("PROBE ")]
    assert marked, "\n".join(lines[-20:])
    return json.loads(marked[-1].removeprefix("PROBE "))


@pytest.fixture(scope="module")
def dockerfile_image(services, docker_client) -> Iterator[str]:
    """The Dockerfile sample (no USER), built by the real builder, tagged outside the platform's
    registry (its registry repository belongs to the app it was built for)."""
    with sample_image(services.builds.builder, docker_client, "dockerfile", "paas-security/dockerfile") as (
            local, image):
        assert not (image.attrs["Config"].get("User") or "")
        yield local


@pytest.fixture(scope="module")
def short_controller(settings, controller, tmp_path_factory) -> Iterator[tuple[str, int]]:
    """A second real controller on the same platform: one worker of 4 threads (so that held
    request threads show at once) and PAAS_RUN_TIMEOUT of a few seconds."""
    env = {**controller.env, "PAAS_WORKERS": "1", "PAAS_THREADS": "4", "PAAS_RUN_TIMEOUT": str(RUN_TIMEOUT)}
    proc, url = harness.start_controller(env, tmp_path_factory.mktemp("short") / "controller.log")
    yield url, proc.pid
    harness.stop(proc)


@pytest.fixture(scope="module")
def tenant_app(controller, services, settings, dockerfile_image, admin) -> Iterator[AppClient]:
    user, token = services.auth.register(unique("tenant"), "correct-horse-battery")
    name = unique("priv")
    client = AppClient(controller.url, token, name, settings.consul_addr)
    assert requests.post(f"{controller.url}/v1/apps", json={"name": name},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 201
    created = client.deploy_image(dockerfile_image, {"web": "python3 /app/app.py"})
    assert created["deployment"]["promoted"], created["deployment"]
    yield client
    client.call("DELETE")


def run_lines(url: str, client: AppClient, command: str) -> list[dict]:
    response = client.session.post(f"{url}/v1/apps/{client.app}/run", json={"command": command}, stream=True,
                                   timeout=(5, 120))
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.iter_lines() if line.strip()]


def run_containers(docker_client, client: AppClient, settings) -> list:
    return docker_client.containers.list(all=True, filters={"label": [
        f"paas.app={client.app}", "paas.role=run", f"paas.platform={settings.kv_prefix}"]})


def test_app_instance_is_unprivileged_and_bounded(tenant_app, docker_client, settings):
    [container] = docker_client.containers.list(filters={"label": [
        f"paas.app={tenant_app.app}", "paas.role=instance", f"paas.platform={settings.kv_prefix}"]})
    host_config = container.attrs["HostConfig"]
    assert host_config["CapDrop"] == ["ALL"] and not host_config.get("CapAdd") and not host_config["Privileged"]
    assert host_config["PidsLimit"] == settings.pids_limit and host_config["Memory"] > 0
    assert host_config["NanoCpus"] > 0
    exit_code, output = container.exec_run(["/bin/sh", "-c", PROBE_COMMAND])
    assert exit_code == 0, output.decode()
    check_probe(probe_result(output.decode().splitlines()), "the app instance")


def test_a_cpu_hog_in_an_instance_stays_under_the_burst_cap(tenant_app, docker_client, settings):
    """The attack: spin on every core the host has. The instance gets at most PAAS_CPU_BURST cores
    (a hard quota), so other tenants keep the rest of the host."""
    [container] = docker_client.containers.list(filters={"label": [
        f"paas.app={tenant_app.app}", "paas.role=instance", f"paas.platform={settings.kv_prefix}"]})
    assert container.attrs["HostConfig"]["CpuShares"] == round(settings.default_cpu * 1024)
    spinners = max(2, os.cpu_count() or 2)
    hog = f"for i in $(seq {spinners}); do timeout 4 sh -c 'while :; do :; done' & done; wait"
    started = time.monotonic()
    before = container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"]
    container.exec_run(["/bin/sh", "-c", hog])
    after = container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"]
    cores_used = (after - before) / 1e9 / (time.monotonic() - started)
    # (A little over the cap is the scheduler's period granularity; far over means no cap.)
    assert cores_used <= settings.cpu_burst * 1.15, f"{cores_used:.2f} cores used, cap {settings.cpu_burst}"
    assert cores_used > settings.cpu_burst * 0.3, f"the hog did not run ({cores_used:.2f} cores)"
    # And it still serves (as uid 10001, with nothing writable of root's).
    [address] = tenant_app.live_addresses()
    assert requests.get(f"http://{address}/", timeout=5).text.startswith("Hello from paas dockerfile sample")


def test_one_off_run_is_unprivileged_and_bounded(tenant_app, controller):
    events = run_lines(controller.url, tenant_app, PROBE_COMMAND)
    assert events[-1] == {"exit_code": 0}, events[-5:]
    check_probe(probe_result([e["log"] for e in events if "log" in e]), "paas run")


def test_a_run_whose_client_hangs_up_is_removed(tenant_app, controller, docker_client, settings):
    response = tenant_app.session.post(f"{controller.url}/v1/apps/{tenant_app.app}/run",
                                       json={"command": "echo started; sleep 600"}, stream=True, timeout=(5, 60))
    lines = response.iter_lines()
    assert json.loads(next(line for line in lines if line.strip())) == {"log": "started"}
    assert len(run_containers(docker_client, tenant_app, settings)) == 1
    response.close()  # the client goes away (Ctrl-C, a dropped connection)
    left_at = time.monotonic()
    wait_until(lambda: not run_containers(docker_client, tenant_app, settings), timeout=10, interval=0.2,
               message="the abandoned run's container to be removed")
    assert time.monotonic() - left_at < 10


def test_a_run_past_the_timeout_is_killed_with_a_clear_message(tenant_app, short_controller, docker_client,
                                                               settings):
    url, _ = short_controller
    started = time.monotonic()
    events = run_lines(url, tenant_app, "echo begin; sleep 600")
    took = time.monotonic() - started
    assert events[0] == {"log": "begin"}
    assert "error" in events[-1], events
    assert f"longer than {RUN_TIMEOUT}s (PAAS_RUN_TIMEOUT)" in events[-1]["error"] and "killed" in events[-1]["error"]
    assert RUN_TIMEOUT <= took < RUN_TIMEOUT + 15
    assert not run_containers(docker_client, tenant_app, settings)


def _follow(url: str, client: AppClient) -> requests.Response:
    response = client.session.get(f"{url}/v1/apps/{client.app}/logs", params={"follow": "true", "tail": "0"},
                                  stream=True, timeout=(5, 10))
    assert response.status_code == 200, response.text
    return response


def test_abandoned_log_follows_give_their_threads_back(tenant_app, short_controller):
    url, master = short_controller
    # Fill gunicorn's thread pool once (4 threads), so that it does not grow during the count.
    for response in [_follow(url, tenant_app) for _ in range(4)]:
        response.close()
    baseline = settled_threads(master)

    # While 4 quiet follows are open, each holds one of the 4 request threads (and starts no
    # thread of its own: it reads the log history): each is being served, a keep-alive shows it.
    held = [_follow(url, tenant_app) for _ in range(4)]
    for response in held:
        assert next(response.iter_content(chunk_size=1)) == b"\n"
    assert worker_threads(master) <= baseline
    for response in held:
        response.close()
    wait_until(lambda: worker_threads(master) <= baseline, timeout=15, interval=0.2,
               message=f"the threads of abandoned follows to end (baseline {baseline})")

    # Three times as many abandoned follows as the controller has request threads: had any kept
    # its thread, the next follow would never get an answer.
    for _ in range(12):
        _follow(url, tenant_app).close()
    assert tenant_app.session.get(f"{url}/healthz", timeout=10).ok
    wait_until(lambda: worker_threads(master) <= baseline, timeout=15, interval=0.2,
               message=f"the threads of 12 abandoned follows to end (baseline {baseline})")


@pytest.mark.parametrize(("sample", "expect"), [("express", "express"), ("static", "<html")])
def test_buildpack_samples_still_serve_unprivileged(sample, expect, services, controller, settings, docker_client):
    """The buildpack images run as PAAS_APP_USER (their build output belongs to root) and still
    serve (flask: tests/e2e/test_deploy.py, the Dockerfile sample: above)."""
    built = services.builds.builder.build(unique(sample), uuid.uuid4().hex[:12], APPS / sample, {},
                                          lambda line: None)
    local = f"paas-security/{sample}:{uuid.uuid4().hex[:12]}"
    docker_client.images.get(built.image).tag(local)
    user, token = services.auth.register(unique("tenant"), "correct-horse-battery")
    client = AppClient(controller.url, token, unique(f"priv-{sample}"), settings.consul_addr)
    requests.post(f"{controller.url}/v1/apps", json={"name": client.app},
                  headers={"Authorization": f"Bearer {token}"}, timeout=10)
    try:
        created = client.ok("POST", "/builds", json={"image": local, "procfile": built.procfile})
        assert created["deployment"]["promoted"], created["deployment"]
        [address] = client.live_addresses()
        assert expect in requests.get(f"http://{address}/", timeout=5).text.lower()
        [container] = docker_client.containers.list(filters={"label": [
            f"paas.app={client.app}", "paas.role=instance", f"paas.platform={settings.kv_prefix}"]})
        assert container.attrs["Config"]["User"] == settings.app_user
    finally:
        client.call("DELETE")
        for tag in (local, built.image):
            try:
                docker_client.images.remove(tag)
            except docker.errors.APIError:
                pass  # still used by a container that failed to stop
