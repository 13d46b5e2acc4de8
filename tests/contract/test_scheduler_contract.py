"""The Scheduler port's contract: what every adapter (docker, nomad) must do, in the port's terms
only. Each test runs once per leg (conftest.py); timings come from the leg's driver."""

from __future__ import annotations

import threading

import pytest

from paas.domain.errors import ValidationError
from paas.domain.scheduler import FAILED, RUNNING, SUCCESSFUL, Deployment, Instance

from .driver import LOG_MARKER, RUN_MARKER, SchedulerUnderTest, wait_for


def live(sut: SchedulerUnderTest, app: str) -> list[Instance]:
    return [i for i in sut.scheduler.instances(app) if i.state == "running"]


def settle(sut: SchedulerUnderTest, app: str, *, promote: bool = True) -> Deployment:
    """Follow the app's deployment to its end, promoting once every canary is healthy (what the
    deploy service does)."""
    def probe() -> Deployment | None:
        deployment = sut.scheduler.deployment(app)
        if deployment is None or deployment.finished:
            return deployment
        if promote and not deployment.promoted and all(
                g.healthy >= g.desired_canaries for g in deployment.groups.values()):
            deployment = sut.scheduler.promote(app, deployment.id)
            return deployment if deployment.finished else None
        return None

    return wait_for(f"the deployment of {app} to finish", probe, sut.driver.timeout)


def roll_out(sut: SchedulerUnderTest, app: str, release: int, **plan_args) -> Deployment:
    plan = sut.driver.plan(app, release, **plan_args)
    sut.scheduler.deploy(plan)
    sut.driver.make_healthy(app)
    deployment = settle(sut, app)
    assert deployment.status == SUCCESSFUL, deployment
    return deployment


def wait_canaries_placed(sut: SchedulerUnderTest, app: str, release: int) -> Deployment:
    def probe() -> Deployment | None:
        deployment = sut.scheduler.deployment(app)
        if deployment and deployment.release == release and deployment.groups and all(
                g.placed_canaries >= g.desired_canaries > 0 for g in deployment.groups.values()):
            return deployment
        return None

    return wait_for(f"the canaries of v{release}", probe, sut.driver.timeout)


def test_first_deploy_ends_successful_with_instances_running(scheduler_under_test, app):
    sut = scheduler_under_test
    deployment = roll_out(sut, app, 1, web=2, worker=1)
    assert deployment.release == 1 and deployment.app == app and deployment.promoted
    assert set(deployment.groups) == {"web", "worker"}
    instances = wait_for("2 web + 1 worker running", lambda: (lambda i: i if len(i) == 3 else None)(live(sut, app)),
                         sut.driver.timeout)
    assert sorted(i.type for i in instances) == ["web", "web", "worker"]
    assert all(i.release == 1 and not i.canary and i.app == app for i in instances)
    assert all(i.address for i in instances if i.type == "web")
    assert all(i.health == "passing" for i in instances if i.type == "web")
    assert sut.scheduler.deployment(app).status == SUCCESSFUL


def test_second_release_runs_canaries_beside_the_old_ones_then_promotes(scheduler_under_test, app):
    sut = scheduler_under_test
    roll_out(sut, app, 1, web=2)
    old = {i.id for i in live(sut, app)}
    sut.scheduler.deploy(sut.driver.plan(app, 2, web=2))
    deployment = wait_canaries_placed(sut, app, 2)
    assert deployment.status == RUNNING and not deployment.promoted
    assert deployment.groups["web"].desired_canaries == 2
    both = wait_for("old and canary instances side by side",
                    lambda: (lambda i: i if {x.release for x in i} == {1, 2} and len(i) == 4 else None)(live(sut, app)),
                    sut.driver.timeout)
    assert all(i.canary for i in both if i.release == 2) and not any(i.canary for i in both if i.release == 1)

    sut.driver.make_healthy(app)
    healthy = wait_for("healthy canaries", lambda: (lambda d: d if d.groups["web"].healthy >= 2 else None)(
        sut.scheduler.deployment(app)), sut.driver.timeout)
    assert healthy.status == RUNNING and not healthy.promoted, "auto_promote is off: the platform promotes"

    promoted = sut.scheduler.promote(app, healthy.id)
    assert promoted.id == healthy.id
    done = settle(sut, app)
    assert done.status == SUCCESSFUL and done.release == 2 and done.promoted
    after = wait_for("only v2 running", lambda: (lambda i: i if {x.release for x in i} == {2} and len(i) == 2 else None)(
        live(sut, app)), sut.driver.timeout)
    assert not any(i.canary for i in after) and not old & {i.id for i in after}


def test_promote_is_refused_until_every_canary_is_healthy(scheduler_under_test, app):
    sut = scheduler_under_test
    roll_out(sut, app, 1)
    sut.scheduler.deploy(sut.driver.plan(app, 2, healthy=False))
    deployment = wait_canaries_placed(sut, app, 2)
    if deployment.groups["web"].healthy == 0:
        with pytest.raises(ValidationError):
            sut.scheduler.promote(app, deployment.id)
    failed = sut.scheduler.fail(app, deployment.id, "given up by the test")
    assert failed.status == FAILED


def test_failed_canaries_fail_the_deployment_and_the_old_release_keeps_serving(scheduler_under_test, app):
    sut = scheduler_under_test
    roll_out(sut, app, 1, web=2)
    sut.scheduler.deploy(sut.driver.plan(app, 2, web=2, healthy=False))
    wait_canaries_placed(sut, app, 2)
    sut.driver.make_unhealthy(app)
    deployment = settle(sut, app)
    assert deployment.status == FAILED and deployment.release == 2 and deployment.description
    remaining = wait_for("the canaries gone, v1 serving",
                         lambda: (lambda i: i if [x.release for x in i] == [1, 1] else None)(live(sut, app)),
                         sut.driver.timeout)
    assert not any(i.canary for i in remaining)
    reported = sut.scheduler.deployment(app)
    assert reported.release == 2 and reported.status == FAILED, "the failure stays visible: never shown as live"


def test_fail_on_request_removes_the_canaries(scheduler_under_test, app):
    sut = scheduler_under_test
    roll_out(sut, app, 1)
    sut.scheduler.deploy(sut.driver.plan(app, 2))
    deployment = wait_canaries_placed(sut, app, 2)
    failed = sut.scheduler.fail(app, deployment.id, "operator gave up")
    assert failed.status == FAILED and failed.release == 2 and "operator gave up" in failed.description
    wait_for("v1 alone", lambda: [i.release for i in live(sut, app)] == [1], sut.driver.timeout)


def test_scale_changes_quantities_in_place_without_canaries(scheduler_under_test, app):
    sut = scheduler_under_test
    roll_out(sut, app, 1, web=1)
    sut.scheduler.scale(sut.driver.plan(app, 1, web=3, worker=1))
    sut.driver.make_healthy(app)
    scaled = wait_for("3 web + 1 worker", lambda: (lambda i: i if sorted(x.type for x in i) == ["web"] * 3 + ["worker"]
                                                   else None)(live(sut, app)), sut.driver.timeout)
    assert all(i.release == 1 and not i.canary for i in scaled)
    deployment = sut.scheduler.deployment(app)
    assert deployment.release == 1 and deployment.status != FAILED
    assert all(g.desired_canaries == 0 for g in deployment.groups.values()) or deployment.status == SUCCESSFUL

    sut.scheduler.scale(sut.driver.plan(app, 1, web=1))
    sut.driver.make_healthy(app)
    wait_for("1 web left", lambda: [i.type for i in live(sut, app)] == ["web"], sut.driver.timeout)


def test_restart_token_change_rolls_fresh_instances_of_the_same_release(scheduler_under_test, app):
    sut = scheduler_under_test
    first = roll_out(sut, app, 1, web=2, restart_token="t1")
    before = {i.id for i in live(sut, app)}
    deployment = sut.scheduler.deploy(sut.driver.plan(app, 1, web=2, restart_token="t2"))
    assert deployment.id != first.id and deployment.release == 1
    wait_canaries_placed(sut, app, 1)
    sut.driver.make_healthy(app)
    done = settle(sut, app)
    assert done.status == SUCCESSFUL and done.id != first.id
    after = wait_for("2 fresh instances", lambda: (lambda i: i if len(i) == 2 and not before & {x.id for x in i}
                                                   else None)(live(sut, app)), sut.driver.timeout)
    assert all(i.release == 1 for i in after)


def test_destroy_removes_the_app(scheduler_under_test, app):
    sut = scheduler_under_test
    roll_out(sut, app, 1, web=1, worker=1)
    assert app in sut.scheduler.apps()
    sut.scheduler.destroy(app)
    assert app not in sut.scheduler.apps()
    wait_for("no instances", lambda: sut.scheduler.instances(app) == [], sut.driver.timeout)
    assert sut.scheduler.deployment(app) is None
    sut.scheduler.destroy(app)  # idempotent


def test_unknown_app_has_no_deployment_and_no_instances(scheduler_under_test):
    assert scheduler_under_test.scheduler.deployment("ct-never-deployed") is None
    assert scheduler_under_test.scheduler.instances("ct-never-deployed") == []


def test_logs_tail_and_follow(scheduler_under_test, app):
    sut = scheduler_under_test
    roll_out(sut, app, 1)
    lines = wait_for("the app's output in its logs", lambda: [
        line for line in sut.scheduler.logs(app, "web", 100, False) if LOG_MARKER in line], sut.driver.timeout)
    assert lines[0].startswith("web")
    assert list(sut.scheduler.logs(app, "worker", 100, False)) == []

    stream = sut.scheduler.logs(app, None, 100, True)
    found: list[str] = []

    def read() -> None:
        for line in stream:
            if LOG_MARKER in line:
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(sut.driver.timeout)
    assert found, "follow=True shows the recent output"
    stream.close()


def test_one_off_run_streams_output_and_returns_the_exit_code(scheduler_under_test, app):
    sut = scheduler_under_test
    plan = sut.driver.plan(app, 1)
    output: list[str] = []
    assert sut.scheduler.run(plan, f"echo {RUN_MARKER} && exit 3", output.append) == 3
    assert any(RUN_MARKER in line for line in output)
    assert sut.scheduler.run(plan, "true", output.append) == 0
