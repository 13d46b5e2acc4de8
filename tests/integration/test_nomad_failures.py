"""The nomad adapter's failure paths against NomadApiDouble: Nomad unreachable during a deploy, a
CAS conflict, a token without rights. Each must give a clear message (no secret in it) and leave
what the scheduler reports truthful: the previous release stays the live one."""

from __future__ import annotations

import pytest

from paas.domain.errors import ConcurrentUpdate, PaasError, PermissionDenied, ValidationError
from paas.domain.scheduler import SUCCESSFUL, AppPlan, ProcessPlan, UpdatePolicy
from paas.scheduler.nomad import NomadOptions, NomadScheduler, Unreachable, job_id, render_job
from tests.conftest import wait_until
from tests.doubles.nomad_api import NomadApiDouble, canonicalize, hcl_to_job

SECRET = "pg-password-123"
UPDATE = UpdatePolicy(min_healthy_time=0.05, healthy_deadline=1.0, drain_time=0.0, stop_timeout=1.0)


def plan(release: int, app: str = "shop", web: int = 1) -> AppPlan:
    return AppPlan(app=app, release=release, image=f"registry.invalid/{app}:v{release}",
                   env={"DATABASE_URL": f"postgres://shop:{SECRET}@db/shop"},
                   processes=[ProcessPlan("web", "python3 app.py", web, healthcheck="/health")], update=UPDATE)


def scheduler(double: NomadApiDouble, token: str | None = None, **options) -> NomadScheduler:
    return NomadScheduler(None, NomadOptions(addr=double.address, token=token, timeout=2.0, **options))


def live_v1(sched: NomadScheduler) -> None:
    sched.deploy(plan(1))
    wait_until(lambda: (d := sched.deployment("shop")) and d.status == SUCCESSFUL)


def assert_v1_still_live(sched: NomadScheduler) -> None:
    deployment = sched.deployment("shop")
    assert deployment.release == 1 and deployment.status == SUCCESSFUL
    assert [i.release for i in sched.instances("shop")] == [1]


def test_unreachable_nomad_gives_a_clear_error_and_changes_nothing(double):
    sched = scheduler(double)
    live_v1(sched)
    with double.unreachable(), pytest.raises(Unreachable) as caught:
        sched.deploy(plan(2))
    message = str(caught.value)
    assert f"Nomad is unreachable at {double.address}" in message and "NOMAD_ADDR" in message
    assert "deploy release v2 of shop" in message and "never reached Nomad" in message
    assert SECRET not in message
    assert isinstance(caught.value, PaasError)
    assert_v1_still_live(sched)  # reachable again: nothing happened to v1


def test_connection_lost_in_the_middle_of_a_deploy(double):
    sched = scheduler(double)
    live_v1(sched)
    double.drop("POST", r"^/v1/jobs$")  # the registration is lost on its way
    with pytest.raises(Unreachable, match="may or may not have received"):
        sched.deploy(plan(2))
    assert_v1_still_live(sched)


def test_answer_lost_after_nomad_accepted_the_job(double):
    sched = scheduler(double)
    live_v1(sched)
    double.drop("GET", r"^/v1/job/paas-shop/deployments$", after=True)
    with pytest.raises(Unreachable, match="which Nomad accepted"):
        sched.deploy(plan(2))
    # the truth is still there to read: v2 is rolling out, not live
    deployment = sched.deployment("shop")
    assert deployment.release == 2 and deployment.status == "running"


def test_unreachable_reads_and_logs_fail_clearly(double):
    sched = scheduler(double)
    with double.unreachable():
        for call in (lambda: sched.deployment("shop"), lambda: sched.instances("shop"),
                     lambda: list(sched.logs("shop", None, 10, False)), lambda: sched.destroy("shop")):
            with pytest.raises(Unreachable):
                call()


def test_cas_conflict_becomes_a_concurrent_update(double):
    sched = scheduler(double)
    live_v1(sched)
    competitor = canonicalize(hcl_to_job(render_job(plan(3), NomadOptions())))

    def someone_else_registers() -> None:
        job = double.job("paas-shop")
        double.handle("POST", "/v1/jobs", {}, {"Job": competitor, "EnforceIndex": True,
                                               "JobModifyIndex": job["JobModifyIndex"]}, None)

    double.before("POST", r"^/v1/jobs$", someone_else_registers)
    with pytest.raises(ConcurrentUpdate) as caught:
        sched.deploy(plan(2))
    message = str(caught.value)
    assert "Enforcing job modify index" in message and "retry" in message and SECRET not in message
    assert double.job("paas-shop")["Meta"]["release"] == "3", "the other writer's version was not overwritten"


def test_cas_create_only_when_the_job_appears_meanwhile(double):
    sched = scheduler(double)
    other = canonicalize(hcl_to_job(render_job(plan(7), NomadOptions())))
    double.before("POST", r"^/v1/jobs$", lambda: double.handle(
        "POST", "/v1/jobs", {}, {"Job": other, "EnforceIndex": True, "JobModifyIndex": 0}, None))
    with pytest.raises(ConcurrentUpdate):
        sched.deploy(plan(1))  # read: no job (index 0, create only); meanwhile someone created it
    assert double.job("paas-shop")["Meta"]["release"] == "7"


def test_token_without_rights_gets_permission_denied():
    with NomadApiDouble(acl=True, checks="passing") as double:
        reader = double.add_token({"read-job", "parse-job"})
        sched = scheduler(double, token=reader)
        with pytest.raises(PermissionDenied) as caught:
            sched.deploy(plan(1))
        message = str(caught.value)
        assert "403" in message and "NOMAD_TOKEN" in message and "docs/nomad.md" in message
        assert reader not in message and SECRET not in message
        assert double.job("paas-shop") is None
        assert sched.deployment("shop") is None  # reading is allowed: nothing there

        for token in (None, "not-a-token"):
            with pytest.raises(PermissionDenied):
                scheduler(double, token=token).deploy(plan(1))

        deployer = double.add_token({"read-job", "submit-job", "read-logs"})
        deploying = scheduler(double, token=deployer)
        deploying.deploy(plan(1))
        wait_until(lambda: (d := deploying.deployment("shop")) and d.status == SUCCESSFUL)
        with pytest.raises(PermissionDenied):  # no dispatch-job
            deploying.run(plan(1), "echo hi", lambda line: None)


def test_nomad_rejections_never_echo_secrets(double):
    sched = scheduler(double)
    double.before("POST", r"^/v1/jobs/parse$", lambda: None)
    bad = plan(1)
    bad.image = ""  # Nomad refuses a docker task without an image
    with pytest.raises(ValidationError) as caught:
        sched.deploy(bad)
    assert "requires an image" in str(caught.value) and SECRET not in str(caught.value)
    assert sched._scrub(f"oops {SECRET} there", [bad.env["DATABASE_URL"], SECRET]) == "oops *** there"


def test_promote_before_the_canaries_are_healthy_is_refused(double):
    sched = scheduler(double)
    live_v1(sched)
    double.checks_default = None
    deployment = sched.deploy(plan(2))
    with pytest.raises(ValidationError, match="not every canary is healthy"):
        sched.promote("shop", deployment.id)
    assert sched.deployment("shop").status == "running"
    assert job_id("shop") in double.jobs()
