"""NomadApiDouble keeps Nomad's documented semantics (shared/reference/NOMAD-CONSUL.md) where the
adapter relies on them: raw HTTP here, no adapter, so a wrong double cannot hide a wrong adapter."""

from __future__ import annotations

import pytest
import requests

from paas.domain.scheduler import AppPlan, ProcessPlan, UpdatePolicy
from paas.router.route_tags import ConsulCatalogTags
from paas.scheduler.nomad import NomadOptions, render_job, render_run_job
from tests.conftest import wait_until
from tests.doubles.nomad_api import NomadApiDouble

UPDATE = UpdatePolicy(min_healthy_time=0.05, healthy_deadline=1.0, drain_time=0.0, stop_timeout=1.0)
TAGS = ConsulCatalogTags("paas.test", None)


def hcl(release: int, web: int = 2, options: NomadOptions | None = None) -> str:
    plan = AppPlan(app="shop", release=release, image=f"img:{release}", env={},
                   processes=[ProcessPlan("web", "serve", web, healthcheck="/health")], update=UPDATE)
    return render_job(plan, options or NomadOptions(), TAGS)


class Client:
    def __init__(self, double: NomadApiDouble, token: str | None = None):
        self.url, self.session = double.address, requests.Session()
        if token:
            self.session.headers["X-Nomad-Token"] = token

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=5, **kwargs)

    def parse(self, text: str) -> dict:
        answer = self.call("POST", "/v1/jobs/parse", json={"JobHCL": text, "Canonicalize": True})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def register(self, text: str, index: int | None = None) -> requests.Response:
        body = {"Job": self.parse(text)}
        if index is not None:
            body.update(EnforceIndex=True, JobModifyIndex=index)
        return self.call("POST", "/v1/jobs", json=body)

    def deployment(self) -> dict:
        return self.call("GET", "/v1/job/paas-shop/deployment").json()


def test_register_cas_conflicts_are_http_500_with_nomads_text(double):
    api = Client(double)
    assert api.register(hcl(1), index=0).status_code == 200
    again = api.register(hcl(2), index=0)
    assert again.status_code == 500 and again.text.startswith("Enforcing job modify index 0")
    stale = api.register(hcl(2), index=1)
    assert stale.status_code == 500 and "conflicting job modify index" in stale.text
    current = api.call("GET", "/v1/job/paas-shop").json()["JobModifyIndex"]
    assert api.register(hcl(2), index=current).status_code == 200


def test_deployments_canaries_promotion_and_stability(double):
    api = Client(double)
    api.register(hcl(1))
    first = wait_until(lambda: (d := api.deployment())["Status"] == "successful" and d)
    assert first["TaskGroups"]["web"]["DesiredCanaries"] == 0, "a first version places no canaries"
    versions = api.call("GET", "/v1/job/paas-shop/versions").json()["Versions"]
    assert versions[0]["Stable"] is True

    double.checks_default = None
    api.register(hcl(2))
    second = api.deployment()
    group = second["TaskGroups"]["web"]
    assert (group["DesiredCanaries"], len(group["PlacedCanaries"]), group["HealthyAllocs"]) == (2, 2, 0)
    assert second["StatusDescription"] == "Deployment is running but requires manual promotion"
    refused = api.call("POST", f"/v1/deployment/promote/{second['ID']}", json={"DeploymentID": second["ID"], "All": True})
    assert refused.status_code == 500 and 'Task group "web" has 0/2 healthy allocations' in refused.text

    double.set_checks("paas-shop", "passing")
    wait_until(lambda: api.deployment()["TaskGroups"]["web"]["HealthyAllocs"] == 2)
    promoted = api.call("POST", f"/v1/deployment/promote/{second['ID']}", json={"DeploymentID": second["ID"], "All": True})
    assert promoted.status_code == 200
    done = wait_until(lambda: (d := api.deployment())["Status"] == "successful" and d)
    assert done["TaskGroups"]["web"]["Promoted"] is True
    allocs = api.call("GET", "/v1/job/paas-shop/allocations").json()
    running = [a for a in allocs if a["ClientStatus"] == "running"]
    assert len(running) == 2 and all(a["JobVersion"] == 1 and not a["DeploymentStatus"]["Canary"] for a in running)


def test_count_only_change_is_in_place_without_canaries(double):
    api = Client(double)
    api.register(hcl(1, web=1))
    wait_until(lambda: api.deployment()["Status"] == "successful")
    api.register(hcl(1, web=3))
    deployment = api.deployment()
    assert deployment["JobVersion"] == 1 and deployment["TaskGroups"]["web"]["DesiredCanaries"] == 0
    wait_until(lambda: api.deployment()["Status"] == "successful")


def test_fail_with_auto_revert_registers_the_last_stable_version(double):
    api = Client(double)
    api.register(hcl(1))
    wait_until(lambda: api.deployment()["Status"] == "successful")
    double.checks_default = None
    api.register(hcl(2))
    dep = api.deployment()
    failed = api.call("POST", f"/v1/deployment/fail/{dep['ID']}", json={"DeploymentID": dep["ID"]})
    assert failed.status_code == 200
    dep = api.call("GET", f"/v1/deployment/{dep['ID']}").json()
    assert dep["Status"] == "failed" and dep["StatusDescription"] == \
        "Deployment marked as failed - rolling back to job version 0"
    job = api.call("GET", "/v1/job/paas-shop").json()
    assert job["Version"] == 2 and job["Meta"]["release"] == "1"
    again = api.call("POST", f"/v1/deployment/fail/{dep['ID']}", json={"DeploymentID": dep["ID"]})
    assert again.status_code == 500 and "terminal" in again.text


def test_progress_deadline_fails_and_reverts_on_its_own(double):
    api = Client(double)
    options = NomadOptions(progress_grace=0.3)
    api.register(hcl(1, options=options))
    wait_until(lambda: api.deployment()["Status"] == "successful")
    double.checks_default = "critical"
    api.register(hcl(2, options=options))
    dep = wait_until(lambda: [d for d in api.call("GET", "/v1/job/paas-shop/deployments").json() if d["Status"] == "failed"],
               timeout=5)[0]
    assert dep["StatusDescription"].startswith("Failed due to progress deadline - rolling back")


def test_acl_tokens_and_capabilities():
    with NomadApiDouble(acl=True) as double:
        anonymous = Client(double).call("GET", "/v1/jobs")
        assert anonymous.status_code == 403 and anonymous.text == "Permission denied"
        assert Client(double, "bogus").call("GET", "/v1/jobs").text == "ACL token not found"
        reader = Client(double, double.add_token({"read-job"}))
        assert reader.call("GET", "/v1/jobs").status_code == 200
        assert reader.call("POST", "/v1/jobs/parse", json={"JobHCL": hcl(1)}).status_code == 403
        admin = Client(double, double.management_token)
        assert admin.register(hcl(1)).status_code == 200


def test_parse_rejects_what_nomad_would_and_what_the_double_does_not_model(double):
    api = Client(double)
    broken = api.call("POST", "/v1/jobs/parse", json={"JobHCL": 'job "x" {'})
    assert broken.status_code == 400
    unknown = api.call("POST", "/v1/jobs/parse", json={"JobHCL": 'job "x" {\n  vault {}\n}\n'})
    assert unknown.status_code == 400 and "unsupported by NomadApiDouble" in unknown.text
    variable = api.call("POST", "/v1/jobs/parse", json={"JobHCL": 'job "x" {\n  type = "${var.t}"\n}\n'})
    assert variable.status_code == 400 and "no variable named" in variable.text


def test_dispatch_meta_rules_and_idempotency(double):
    api = Client(double)
    plan = AppPlan(app="shop", release=1, image="img:1", env={}, processes=[], update=UPDATE)
    api.register(render_run_job(plan, NomadOptions()))
    url = "/v1/job/paas-shop.run/dispatch"
    assert api.call("POST", url, json={"Meta": {}}).status_code == 400
    assert "unpermitted" in api.call("POST", url, json={"Meta": {"command": "x", "other": "y"}}).text
    one = api.call("POST", url, params={"idempotency_token": "t1"}, json={"Meta": {"command": "echo a"}}).json()
    two = api.call("POST", url, params={"idempotency_token": "t1"}, json={"Meta": {"command": "echo a"}}).json()
    assert one["DispatchedJobID"] == two["DispatchedJobID"]
    assert one["DispatchedJobID"].startswith("paas-shop.run/dispatch-")
    alloc = wait_until(lambda: [a for a in api.call("GET", f"/v1/job/{one['DispatchedJobID']}/allocations").json()
                          if a["ClientStatus"] == "complete"])[0]
    logs = api.call("GET", f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "run", "type": "stdout",
                                                                         "plain": "true", "follow": "true"})
    assert logs.text == "a\n"
    assert alloc["TaskStates"]["run"]["Events"][-1]["ExitCode"] == 0


def test_unreachable_refuses_connections_and_comes_back(double):
    api = Client(double)
    assert api.call("GET", "/v1/jobs").status_code == 200
    with double.unreachable(), pytest.raises(requests.ConnectionError):
        api.call("GET", "/v1/jobs")
    assert api.call("GET", "/v1/jobs").status_code == 200
