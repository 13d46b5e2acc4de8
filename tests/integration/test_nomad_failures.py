"""The nomad adapter's failure paths against NomadApiDouble: Nomad unreachable during a start, a
CAS conflict, a token without rights. Each must give a clear message (no secret in it) and leave
what the scheduler reports truthful: the previous release keeps serving."""

from __future__ import annotations

import secrets

import pytest

from paas.domain import names
from paas.domain.errors import ConcurrentUpdate, PaasError, PermissionDenied, StartFailed
from paas.domain.scheduler import AppPlan, ProcessPlan, UpdatePolicy
from paas.router.route_tags import ConsulCatalogTags
from paas.scheduler.nomad import NomadOptions, NomadScheduler, Unreachable, render_job
from tests.doubles.nomad_api import NomadApiDouble, canonicalize, hcl_to_job
from tests.rollout import roll_out
from tests.support.polling import wait_until

SECRET = "pg-password-123"
UPDATE = UpdatePolicy(min_healthy_time=0.05, healthy_deadline=2.0, drain_time=0.0, stop_timeout=1.0)
TAGS = ConsulCatalogTags("paas.test", None)
JOB = names.job("shop")


def plan(release: int, app: str = "shop", web: int = 1) -> AppPlan:
    return AppPlan(app=app, release=release, image=f"registry.invalid/{app}:v{release}",
                   env={"DATABASE_URL": f"postgres://shop:{SECRET}@db/shop"},
                   processes=[ProcessPlan("web", "python3 app.py", web, healthcheck="/health")], update=UPDATE)


def scheduler(double: NomadApiDouble, token: str | None = None, **options) -> NomadScheduler:
    return NomadScheduler(None, TAGS, NomadOptions(addr=double.address, token=token, timeout=2.0, **options))


def assert_v1_still_serving(sched: NomadScheduler) -> None:
    instances = sched.instances("shop")
    assert [(i.release, i.state, i.canary) for i in instances] == [(1, "running", False)]


def test_unreachable_nomad_gives_a_clear_error_and_changes_nothing(double):
    sched = scheduler(double)
    roll_out(sched, plan(1))
    with double.unreachable(), pytest.raises(Unreachable) as caught:
        sched.start(plan(2), "d-2")
    message = str(caught.value)
    assert f"Nomad is unreachable at {double.address}" in message and "NOMAD_ADDR" in message
    assert "start release v2 of shop" in message and "never reached Nomad" in message
    assert SECRET not in message
    assert isinstance(caught.value, PaasError)
    assert_v1_still_serving(sched)  # reachable again: nothing happened to v1


def test_connection_lost_in_the_middle_of_a_start(double):
    sched = scheduler(double)
    roll_out(sched, plan(1))
    double.drop("POST", r"^/v1/jobs$")  # the registration is lost on its way
    with pytest.raises(Unreachable, match="may or may not have received"):
        sched.start(plan(2), "d-2")
    assert_v1_still_serving(sched)


def test_answer_lost_after_nomad_accepted_the_job_and_the_start_resumed(double):
    sched = scheduler(double)
    roll_out(sched, plan(1))
    double.drop("GET", r"^/v1/evaluation/", after=True)
    with pytest.raises(Unreachable, match="which Nomad accepted"):
        sched.start(plan(2), "d-2")
    registered = len([r for r in double.requests if r["method"] == "POST" and r["path"] == "/v1/jobs"])
    sched.start(plan(2), "d-2")  # the deploy service tries again: Nomad has it already
    assert len([r for r in double.requests if r["method"] == "POST" and r["path"] == "/v1/jobs"]) == registered
    reports = wait_until(lambda: sched.observe(plan(2), "d-2"))
    assert [r.release for r in reports] == [1 + 1] and double.job(JOB)["Meta"]["paas_deployment"] == "d-2"


def test_unreachable_reads_and_logs_fail_clearly(double):
    sched = scheduler(double)
    with double.unreachable():
        for call in (lambda: sched.observe(plan(1), "d-1"), lambda: sched.instances("shop"),
                     lambda: sched.retire(plan(1), {"d-1"}), lambda: list(sched.logs("shop", None, 10, False)),
                     lambda: sched.destroy("shop")):
            with pytest.raises(Unreachable):
                call()


def test_cas_conflict_becomes_a_concurrent_update(double):
    sched = scheduler(double)
    roll_out(sched, plan(1))
    competitor = canonicalize(hcl_to_job(render_job(plan(3), NomadOptions(), TAGS, "theirs")))

    def someone_else_registers() -> None:
        job = double.job(JOB)
        double.handle("POST", "/v1/jobs", {}, {"Job": competitor, "EnforceIndex": True,
                                               "JobModifyIndex": job["JobModifyIndex"]}, None)

    double.before("POST", r"^/v1/jobs$", someone_else_registers)
    with pytest.raises(ConcurrentUpdate) as caught:
        sched.start(plan(2), "d-2")
    message = str(caught.value)
    assert "Enforcing job modify index" in message and "retry" in message and SECRET not in message
    assert double.job(JOB)["Meta"]["release"] == "3", "the other writer's version was not overwritten"


def test_cas_create_only_when_the_job_appears_meanwhile(double):
    sched = scheduler(double)
    other = canonicalize(hcl_to_job(render_job(plan(7), NomadOptions(), TAGS, "theirs")))
    double.before("POST", r"^/v1/jobs$", lambda: double.handle(
        "POST", "/v1/jobs", {}, {"Job": other, "EnforceIndex": True, "JobModifyIndex": 0}, None))
    with pytest.raises(ConcurrentUpdate):
        sched.start(plan(1), "d-1")  # read: no job (index 0, create only); meanwhile someone created it
    assert double.job(JOB)["Meta"]["release"] == "7"


def test_token_without_rights_gets_permission_denied():
    with NomadApiDouble(acl=True, checks="passing") as double:
        reader = double.add_token({"read-job", "parse-job"})
        sched = scheduler(double, token=reader)
        with pytest.raises(PermissionDenied) as caught:
            sched.start(plan(1), "d-1")
        message = str(caught.value)
        assert "403" in message and "NOMAD_TOKEN" in message and "docs/nomad.md" in message
        assert reader not in message and SECRET not in message
        assert double.job(JOB) is None
        assert sched.instances("shop") == [] and sched.observe(plan(1), "d-1") == []  # reading is allowed

        for token in (None, "not-a-token"):
            with pytest.raises(PermissionDenied):
                scheduler(double, token=token).start(plan(1), "d-1")

        deployer = double.add_token({"read-job", "submit-job", "read-logs"})
        deploying = scheduler(double, token=deployer)
        roll_out(deploying, plan(1))  # submit-job covers allocation health and promotion
        with pytest.raises(PermissionDenied):  # no dispatch-job
            deploying.run(plan(1), "echo hi", lambda line: None)


def test_nomad_rejections_never_echo_secrets(double):
    sched = scheduler(double)
    bad = plan(1)
    bad.image = ""  # Nomad refuses a docker task without an image
    with pytest.raises(StartFailed) as caught:
        sched.start(bad, "d-1")
    assert "requires an image" in str(caught.value) and SECRET not in str(caught.value)
    assert sched.api.scrub(f"oops {SECRET} there", [bad.env["DATABASE_URL"], SECRET]) == "oops *** there"


def test_a_discard_that_loses_a_race_with_another_writer_tries_again(double):
    sched = scheduler(double)
    live = roll_out(sched, plan(1))
    with double._cond:
        for job in double._jobs[JOB]["versions"]:
            job["Stable"] = False  # no stable version: the adapter reverts itself, with EnforcePriorVersion
    deployment = secrets.token_hex(6)
    sched.start(plan(2), deployment)
    again = canonicalize(hcl_to_job(render_job(plan(2), NomadOptions(), TAGS, deployment)))
    again["TaskGroups"][0]["Count"] = 1
    again["Meta"] = {**again["Meta"], "touched": "yes"}  # an operator re-registers it meanwhile

    double.before("POST", r"/revert$", lambda: double.handle("POST", "/v1/jobs", {}, {"Job": again}, None))
    sched.discard(plan(2), deployment)
    assert double.job(JOB)["Meta"]["paas_deployment"] == live
    wait_until(lambda: [i.release for i in sched.instances("shop") if i.state == "running"] == [1])
