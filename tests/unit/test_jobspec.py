"""The Nomad jobspecs (jobspecs/*.nomad.hcl.j2): a golden file of a web+worker app, HCL2 validity
(python-hcl2), and the escaping of user data. No services needed.

PAAS_UPDATE_GOLDEN=1 pytest tests/unit/test_jobspec.py rewrites the golden file after an
intended change; review its diff like code."""

from __future__ import annotations

import os
from pathlib import Path

import hcl2
import pytest

from paas.domain.errors import ValidationError
from paas.domain.scheduler import AppPlan, ProcessPlan, UpdatePolicy
from paas.router.route_tags import ConsulCatalogTags
from paas.scheduler.nomad.jobspec import (
    LAUNCHER_PROBE,
    go_duration,
    hcl_string,
    memory_mb,
    render_job,
    render_run_job,
)
from paas.scheduler.nomad.options import Constraint, NomadOptions
from tests.doubles.nomad_api import canonicalize, hcl_to_job, validate

GOLDEN = Path(__file__).parent / "golden" / "app.nomad.hcl"
TAGS = ConsulCatalogTags("paas.example.com", None)
DEPLOYMENT = "d-5a1c"  # the platform's deployment id, labelling the job version (Meta)
OPTIONS = NomadOptions(
    datacenters=("dc1", "dc2"),
    node_pool="apps",
    constraints=("${attr.kernel.name} = linux", "${attr.driver.docker} is_set"),
    registry="registry.example.com:5000",
    registry_username="puller",
    registry_password="pull-secret",
    default_memory="256M",
    default_cpu=0.1,
)
TRICKY = {
    "QUOTES": 'say "hi" \\ bye',
    "INTERPOLATION": "${HOME} and %{if x}y%{endif} and $${z} and $$",
    "CONTROL": "line1\nline2\ttab\r\x01\x7f",
    "UNICODE": "naïve ☃ 𝄞",
    "EMPTY": "",
}


def web_worker_plan(**changes) -> AppPlan:
    plan = AppPlan(
        app="shop",
        release=42,
        image="registry.example.com:5000/shop:b-0123abcd",
        env={"DATABASE_URL": "postgres://shop:s3cret@db.internal/shop", "WEB_CONCURRENCY": "3"},
        processes=[
            ProcessPlan("web", "gunicorn shop.wsgi --bind 0.0.0.0:$PORT", 2, memory="512M", cpu=0.5,
                        healthcheck="/healthz"),
            ProcessPlan("worker", "celery -A shop worker", 1, memory="1G"),
            ProcessPlan("clock", "python clock.py", 0),
        ],
        update=UpdatePolicy(min_healthy_time=5, healthy_deadline=120, drain_time=2, stop_timeout=20),
        domains=["www.shop.example", "shop.example"],
        git_sha="9f1c2e7d4b3a",
        build_id="b-0123abcd",
        restart_token="r-77",
    )
    for key, value in changes.items():
        setattr(plan, key, value)
    return plan


def parsed(text: str) -> dict:
    """python-hcl2's view: the job body (labels and strings keep their quotes in 8.x)."""
    return hcl2.loads(text)["job"][0]


def test_golden_web_worker_app():
    text = render_job(web_worker_plan(), OPTIONS, TAGS, DEPLOYMENT)
    if os.environ.get("PAAS_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "rendered job differs from tests/unit/golden/app.nomad.hcl " \
                                       "(PAAS_UPDATE_GOLDEN=1 rewrites it after an intended change)"


def test_rendered_job_is_valid_hcl2_with_the_expected_shape():
    body = parsed(render_job(web_worker_plan(), OPTIONS, TAGS, DEPLOYMENT))['"paas-shop"']
    assert body["type"] == '"service"' and body["datacenters"] == ['"dc1"', '"dc2"']
    assert body["node_pool"] == '"apps"'
    assert [c["operator"] for c in body["constraint"]] == ['"="', '"is_set"']
    meta = body["meta"][0]
    assert {k: v for k, v in meta.items() if not k.startswith("__")} == {
        "app": '"shop"', "release": '"42"', "git_sha": '"9f1c2e7d4b3a"', "build_id": '"b-0123abcd"',
        "restart_token": '"r-77"', "platform": '"paas"', "paas_deployment": f'"{DEPLOYMENT}"'}
    groups = {next(iter(g)): g[next(iter(g))] for g in body["group"]}
    assert list(groups) == ['"web"', '"worker"']  # clock has quantity 0: no group
    web, worker = groups['"web"'], groups['"worker"']
    assert web["count"] == 2 and worker["count"] == 1
    update = web["update"][0]
    assert (update["canary"], update["max_parallel"], update["auto_promote"], update["auto_revert"]) == (2, 2, False, True)
    assert (update["health_check"], update["min_healthy_time"], update["healthy_deadline"]) == ('"checks"', '"5s"', '"120s"')
    assert worker["update"][0]["health_check"] == '"task_states"' and worker["update"][0]["canary"] == 1
    assert "network" in web and "network" not in worker and "service" not in worker


def test_the_double_parses_the_job_like_nomad_and_nomads_rules_accept_it():
    job = canonicalize(hcl_to_job(render_job(web_worker_plan(), OPTIONS, TAGS, DEPLOYMENT)))
    validate(job)  # min_healthy_time < healthy_deadline < progress_deadline, check intervals, ports...
    web, worker = job["TaskGroups"]
    service = web["Services"][0]
    assert service["Name"] == "shop-web" and service["PortLabel"] == "http" and service["Provider"] == "consul"
    assert set(service["Tags"]).isdisjoint({"canary"}) and "canary" in service["CanaryTags"]
    assert not any(t.startswith("traefik.") for t in service["CanaryTags"]), "canaries must never be routed"
    assert any("Host(`shop.paas.example.com`) || Host(`www.shop.example`) || Host(`shop.example`)" in t
               for t in service["Tags"])
    assert service["Checks"][0]["Type"] == "http" and service["Checks"][0]["Path"] == "/healthz"
    assert web["Networks"][0]["DynamicPorts"] == [{"Label": "http", "To": 5000, "Value": 0, "HostNetwork": "default"}]
    assert web["Update"]["ProgressDeadline"] > web["Update"]["HealthyDeadline"] > web["Update"]["MinHealthyTime"]
    assert web["ShutdownDelay"] == 2 * 10**9 and web["Tasks"][0]["KillTimeout"] == 20 * 10**9
    task = web["Tasks"][0]
    assert task["Config"]["image"] == "registry.example.com:5000/shop:b-0123abcd"
    assert task["Config"]["entrypoint"] == ["/bin/sh", "-c", LAUNCHER_PROBE]
    assert task["Config"]["args"] == ["gunicorn shop.wsgi --bind 0.0.0.0:$PORT"]
    assert task["Config"]["auth"] == [{"username": "puller", "password": "pull-secret",
                                       "server_address": "registry.example.com:5000"}]
    assert task["Resources"] == {"CPU": 500, "MemoryMB": 512}
    assert task["Env"]["PORT"] == "5000" and task["Env"]["DATABASE_URL"] == "postgres://shop:s3cret@db.internal/shop"
    assert "PORT" not in worker["Tasks"][0]["Env"] and worker["Tasks"][0]["Resources"]["MemoryMB"] == 1024
    assert worker["Tasks"][0]["Resources"]["CPU"] == 100  # default 0.1 core
    assert job["Constraints"][0] == {"LTarget": "${attr.kernel.name}", "Operand": "=", "RTarget": "linux"}


def test_user_strings_survive_hcl_exactly():
    """Config values reach Nomad byte for byte: no HCL interpolation, no broken quoting."""
    plan = web_worker_plan(env=dict(TRICKY))
    text = render_job(plan, OPTIONS, TAGS, DEPLOYMENT)
    parsed(text)  # python-hcl2 accepts it
    env = hcl_to_job(text)["TaskGroups"][0]["Tasks"][0]["Env"]
    for key, value in TRICKY.items():
        assert env[key] == value, key


@pytest.mark.parametrize(("value", "literal"), [
    ("plain", '"plain"'),
    ('a"b', '"a\\"b"'),
    ("back\\slash", '"back\\\\slash"'),
    ("${x}", '"$${x}"'),
    ("%{x}", '"%%{x}"'),
    ("$x", '"$x"'),
    ("a\nb", '"a\\nb"'),
    ("\x00", '"\\u0000"'),
])
def test_hcl_string_escapes(value, literal):
    assert hcl_string(value) == literal


def test_durations_memory_and_constraints():
    assert [go_duration(s) for s in (1, 0.25, 60, 0, 1.5)] == ["1s", "250ms", "60s", "0s", "1500ms"]
    assert [memory_mb(v, "256M") for v in ("512M", "1G", "4096k", None, "5M")] == [512, 1024, 10, 256, 10]
    with pytest.raises(ValidationError):
        memory_mb("lots", "256M")
    assert Constraint.parse("${node.class} = apps") == Constraint("${node.class}", "=", "apps")
    assert Constraint.parse("${meta.zone} regexp eu-.* west") == Constraint("${meta.zone}", "regexp", "eu-.* west")
    with pytest.raises(ValidationError):
        Constraint.parse("${node.class} ~ apps")


def test_tcp_check_without_healthcheck_and_image_command_when_none():
    plan = web_worker_plan(processes=[ProcessPlan("web", "", 1)])
    job = hcl_to_job(render_job(plan, OPTIONS, TAGS, DEPLOYMENT))
    check = job["TaskGroups"][0]["Services"][0]["Checks"][0]
    assert check["Type"] == "tcp" and check["Path"] == ""
    assert "entrypoint" not in job["TaskGroups"][0]["Tasks"][0]["Config"]  # the image's own CMD


def test_every_type_scaled_to_zero_keeps_the_groups_at_count_zero():
    plan = web_worker_plan(processes=[ProcessPlan("web", "x", 0), ProcessPlan("worker", "y", 0)])
    job = canonicalize(hcl_to_job(render_job(plan, OPTIONS, TAGS, DEPLOYMENT)))
    validate(job)
    assert [(g["Name"], g["Count"], g["Update"]["Canary"]) for g in job["TaskGroups"]] == [("web", 0, 0), ("worker", 0, 0)]


def test_tls_force_follows_the_plan_and_the_https_port():
    plan = web_worker_plan(force_tls=True)
    tags = hcl_to_job(render_job(plan, NomadOptions(), ConsulCatalogTags("paas.test", 8443)))["TaskGroups"][0]["Services"][0]["Tags"]
    assert "tls=force" in tags and any(t.endswith("redirectscheme.port=8443") for t in tags)


def test_no_registry_auth_without_credentials():
    text = render_job(web_worker_plan(), NomadOptions(), TAGS)
    assert "auth {" not in text and 'datacenters = ["dc1"]' in text and "node_pool" not in text


def test_live_and_canary_tags_must_differ():
    class SameTags:
        def live(self, plan):
            return ["paas"]

        def canary(self, plan):
            return ["paas"]

        def unrouted(self, plan, canary):
            return ["paas"]

    with pytest.raises(ValidationError, match="differ"):
        render_job(web_worker_plan(), OPTIONS, SameTags())


def test_run_job_is_a_parameterized_batch_job_that_never_retries():
    text = render_run_job(web_worker_plan(), OPTIONS)
    parsed(text)
    job = canonicalize(hcl_to_job(text))
    validate(job)
    assert job["ID"] == "paas-shop.run" and job["Type"] == "batch"
    assert job["ParameterizedJob"] == {"Payload": "forbidden", "MetaRequired": ["command"], "MetaOptional": None}
    group = job["TaskGroups"][0]
    assert group["RestartPolicy"]["Attempts"] == 0 and group["ReschedulePolicy"] == {"Attempts": 0, "Unlimited": False}
    task = group["Tasks"][0]
    assert task["Config"]["args"] == ["${NOMAD_META_command}"]  # Nomad expands it at run time
    assert task["Env"]["PAAS_PROCESS_TYPE"] == "run" and "PORT" not in task["Env"]
    assert task["Resources"]["MemoryMB"] == 512  # the web process's limits


def test_every_task_is_unprivileged():
    """Finding 10 on Nomad: the docker driver's own keys (user, cap_drop, security_opt, pids_limit)."""
    options = NomadOptions(app_user="20000:20000", pids_limit=300)
    app_job = canonicalize(hcl_to_job(render_job(web_worker_plan(), options, TAGS)))
    run_job = canonicalize(hcl_to_job(render_run_job(web_worker_plan(), options)))
    tasks = [t for g in app_job["TaskGroups"] + run_job["TaskGroups"] for t in g["Tasks"]]
    assert len(tasks) == 3
    for task in tasks:
        assert task["User"] == "20000:20000"
        assert task["Config"]["cap_drop"] == ["ALL"] and "cap_add" not in task["Config"]
        assert task["Config"]["security_opt"] == ["no-new-privileges"]
        assert task["Config"]["pids_limit"] == 300


def test_network_mode_applies_to_every_group_when_set():
    plain = hcl_to_job(render_job(web_worker_plan(), OPTIONS, TAGS, DEPLOYMENT))
    assert [n["Mode"] for n in plain["TaskGroups"][0]["Networks"]] == ["host"]  # the driver's default
    assert plain["TaskGroups"][1]["Networks"] is None
    options = NomadOptions(network_mode="cni/paas-apps")
    job = canonicalize(hcl_to_job(render_job(web_worker_plan(), options, TAGS)))
    validate(job)
    web, worker = job["TaskGroups"]
    assert web["Networks"][0]["Mode"] == "cni/paas-apps" and web["Networks"][0]["DynamicPorts"][0]["To"] == 5000
    assert worker["Networks"][0]["Mode"] == "cni/paas-apps"
    run = hcl_to_job(render_run_job(web_worker_plan(), options))
    assert run["TaskGroups"][0]["Networks"][0]["Mode"] == "cni/paas-apps"
