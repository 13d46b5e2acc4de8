"""The platform with PAAS_SCHEDULER=nomad: a real `paas-controller` (real Consul, its supervisor and
deploy service) whose scheduler is the nomad adapter, against NomadApiDouble. Releases become
Nomad job versions: promoted canary deployments, a failed one that leaves the old release live and
the release marked failed, scale, destroy. (Images are never pulled: the double runs nothing.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
import requests

from paas.wiring import build_services
from tests import harness
from tests.doubles.nomad_api import NomadApiDouble

from ..conftest import PASSWORD, unique

PROCFILE = {"web": "gunicorn --bind 0.0.0.0:$PORT app:app", "worker": "python worker.py"}
FAST = {"min_healthy_time": 0.1, "healthy_deadline": 2, "drain_time": 0, "stop_timeout": 1}


@dataclass
class NomadPlatform:
    url: str
    double: NomadApiDouble
    session: requests.Session

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, f"{self.url}{path}", timeout=60, **kwargs)

    def ok(self, method: str, path: str, **kwargs) -> dict:
        response = self.call(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}


@pytest.fixture(scope="module")
def platform(settings, tmp_path_factory) -> Iterator[NomadPlatform]:
    with NomadApiDouble(checks="passing") as double:
        prefix = unique("paas-nomad")
        mine = replace(settings, kv_prefix=prefix, scheduler="nomad", nomad_addr=double.address)
        services = build_services(mine)
        _, token = services.auth.register(unique("admin"), PASSWORD)
        env = {"CONSUL_HTTP_ADDR": settings.consul_addr, "PAAS_KV_PREFIX": prefix,
               "PAAS_DATA_DIR": str(settings.data_dir), "PAAS_WORKERS": "1", "PAAS_SCHEDULER": "nomad",
               "NOMAD_ADDR": double.address}
        proc, url = harness.start_controller(env, tmp_path_factory.mktemp("nomad-controller") / "controller.log")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        try:
            yield NomadPlatform(url, double, session)
        finally:
            harness.stop(proc)
            services.kv.txn([{"KV": {"Verb": "delete-tree", "Key": prefix + "/"}}])


@pytest.fixture
def app(platform) -> Iterator[str]:
    name = unique("nmd")
    platform.ok("POST", "/v1/apps", json={"name": name})
    platform.ok("PATCH", f"/v1/apps/{name}/formation", json={"update": FAST})
    yield name
    platform.call("DELETE", f"/v1/apps/{name}")


def test_a_build_rolls_out_as_a_nomad_job_with_meta_canary_tags_and_update_block(platform, app):
    created = platform.ok("POST", f"/v1/apps/{app}/builds",
                          json={"image": f"registry.invalid/{app}:b1", "procfile": PROCFILE})
    assert created["deployment"]["promoted"], created["deployment"]
    job = platform.double.job(f"paas-{app}")
    release = str(created["deployment"]["release"])
    assert job["Meta"]["app"] == app and job["Meta"]["release"] == release and job["Meta"]["build_id"]
    web = next(g for g in job["TaskGroups"] if g["Name"] == "web")
    assert (web["Update"]["Canary"], web["Update"]["AutoPromote"], web["Update"]["AutoRevert"]) == (1, False, True)
    service = web["Services"][0]
    assert "traefik.enable=true" in service["Tags"] and "traefik.enable=true" not in service["CanaryTags"]
    assert [g["Name"] for g in job["TaskGroups"]] == ["web"], "worker is at 0 until scaled"

    changed = platform.ok("PATCH", f"/v1/apps/{app}/config", json={"values": {"GREETING": "hi"}})
    assert changed["deployment"]["promoted"] and changed["deployment"]["release"] == int(release) + 1
    latest = platform.double.deployments(f"paas-{app}")[0]
    assert latest["TaskGroups"]["web"]["DesiredCanaries"] == 1 and latest["TaskGroups"]["web"]["Promoted"] is True
    assert platform.double.job(f"paas-{app}")["TaskGroups"][0]["Tasks"][0]["Env"]["GREETING"] == "hi"
    ps = platform.ok("GET", f"/v1/apps/{app}/ps")["instances"]
    assert [(i["type"], i["release"], i["canary"]) for i in ps] == [("web", int(release) + 1, False)]


def test_failed_canaries_mark_the_release_failed_and_the_old_one_keeps_serving(platform, app):
    live = platform.ok("POST", f"/v1/apps/{app}/builds", json={"image": f"registry.invalid/{app}:b1",
                                                               "procfile": PROCFILE})["deployment"]["release"]
    platform.double.checks_default = "critical"
    try:
        answer = platform.call("PATCH", f"/v1/apps/{app}/config", json={"values": {"BROKEN": "1"}}).json()
    finally:
        platform.double.checks_default = "passing"
    assert answer["deployment"]["status"] == "failed" and answer["deployment"]["release"] == live + 1
    releases = {r["version"]: r for r in platform.ok("GET", f"/v1/apps/{app}/releases")["results"]}
    assert releases[live + 1]["failed"] and not releases[live]["failed"]
    deadline = time.monotonic() + 10
    while {i["release"] for i in platform.ok("GET", f"/v1/apps/{app}/ps")["instances"]} != {live}:
        assert time.monotonic() < deadline, "the old release should be the only one running"
        time.sleep(0.1)
    assert platform.double.job(f"paas-{app}")["Meta"]["release"] == str(live), "Nomad reverted the job"


def test_scale_and_destroy(platform, app):
    platform.ok("POST", f"/v1/apps/{app}/builds", json={"image": f"registry.invalid/{app}:b1", "procfile": PROCFILE})
    platform.ok("PATCH", f"/v1/apps/{app}/formation", json={"quantities": {"web": 2, "worker": 1}})
    deadline = time.monotonic() + 15
    while sorted(i["type"] for i in platform.ok("GET", f"/v1/apps/{app}/ps")["instances"]) != ["web", "web", "worker"]:
        assert time.monotonic() < deadline, "scaled instances"
        time.sleep(0.1)
    platform.ok("DELETE", f"/v1/apps/{app}")
    deadline = time.monotonic() + 10
    while f"paas-{app}" in platform.double.jobs():
        assert time.monotonic() < deadline, "the job is purged"
        time.sleep(0.1)
