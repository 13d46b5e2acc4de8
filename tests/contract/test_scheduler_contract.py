"""The Scheduler port's contract: what every adapter (docker, nomad) must do, in the port's terms
only (start, observe, promote, retire, discard, reconcile, instances, logs, run, destroy). Each
test runs once per leg (conftest.py); rollouts are judged by the domain's judge() as the deploy
service judges them (rollout.py); timings come from the leg's driver."""

from __future__ import annotations

import threading

from paas.domain.scheduler import Instance

from ..support.polling import wait_until
from . import rollout
from .driver import EXIT_MARKER, LOG_MARKER, RUN_MARKER, SchedulerUnderTest


def running(sut: SchedulerUnderTest, app: str) -> list[Instance]:
    return [i for i in sut.scheduler.instances(app) if i.state == "running"]


def until(sut: SchedulerUnderTest, what: str, probe):
    return wait_until(probe, timeout=sut.driver.timeout, interval=0.05, message=what)


def gone(sut: SchedulerUnderTest, plan, deployment_id: str) -> bool:
    """No instance of the deployment runs or starts (ended ones may still be reported)."""
    return not [r for r in sut.scheduler.observe(plan, deployment_id) if r.state in ("starting", "running")]


def serving(sut: SchedulerUnderTest, app: str, release: int, count: int) -> list[Instance]:
    """Exactly `count` instances run, all of `release`, routed (not canaries) and passing."""
    def probe() -> list[Instance] | None:
        found = running(sut, app)
        ok = len(found) == count and all(i.release == release and not i.canary for i in found) \
            and all(i.health == "passing" for i in found if i.type == "web")
        return found if ok else None

    return until(sut, f"{count} instance(s) of v{release} serving", probe)


def test_first_deploy_is_live_with_every_instance_running(scheduler_under_test, app):
    sut = scheduler_under_test
    plan = sut.driver.plan(app, 1, web=2, worker=1)
    deployment = rollout.roll_out(sut, plan)
    instances = serving(sut, app, 1, 3)
    assert sorted(i.type for i in instances) == ["web", "web", "worker"]
    assert all(i.app == app and i.restarts == 0 for i in instances)
    assert all(i.address for i in instances if i.type == "web")
    reports = sut.scheduler.observe(plan, deployment.id)
    assert sorted(r.type for r in reports) == ["web", "web", "worker"] and all(r.state == "running" for r in reports)
    assert all(r.check and r.check.passing and r.check.answered for r in reports if r.type == "web")
    assert sut.scheduler.retire(plan, keep={deployment.id}) == 0


def test_canaries_run_beside_the_old_instances_until_promoted(scheduler_under_test, app):
    sut = scheduler_under_test
    rollout.roll_out(sut, sut.driver.plan(app, 1, web=2))
    old = {i.id for i in serving(sut, app, 1, 2)}
    plan = sut.driver.plan(app, 2, web=2)
    deployment = rollout.begin(sut, plan)
    reports = until(sut, "2 canaries of v2 running", lambda: (lambda r: r if len(r) == 2 and all(
        x.state == "running" for x in r) else None)(sut.scheduler.observe(plan, deployment.id)))
    assert all(r.release == 2 and r.type == "web" for r in reports)
    both = until(sut, "v1 and v2 side by side", lambda: (lambda i: i if sorted(x.release for x in i) == [1, 1, 2, 2]
                                                         else None)(running(sut, app)))
    assert all(i.canary for i in both if i.release == 2), "canaries are not routed before promotion"
    assert not any(i.canary for i in both if i.release == 1)
    assert {i.id for i in both if i.release == 1} == old, "the old instances keep serving meanwhile"
    assert sut.scheduler.retire(plan, keep={deployment.id}) >= 2

    rollout.promote(sut, plan, deployment)
    rollout.retire(sut, plan, deployment)
    after = serving(sut, app, 2, 2)
    assert not old & {i.id for i in after}
    assert {i.id for i in after} == {r.id for r in reports}, "the promoted canaries are the live instances"


def test_promote_moves_routing_to_the_canaries(scheduler_under_test, app):
    sut = scheduler_under_test
    first = rollout.roll_out(sut, sut.driver.plan(app, 1))
    plan = sut.driver.plan(app, 2)
    deployment = rollout.begin(sut, plan)
    rollout.promote(sut, plan, deployment)
    # Routed from promote on: no instance of v2 is a canary any more, while v1 stops.
    assert all(not i.canary for i in sut.scheduler.instances(app) if i.release == 2)
    rollout.retire(sut, plan, deployment)
    assert [(i.release, i.canary) for i in serving(sut, app, 2, 1)] == [(2, False)]
    assert gone(sut, sut.driver.plan(app, 1), first.id)


def test_a_canary_that_exits_is_reported_with_its_exit_code_and_last_lines(scheduler_under_test, app):
    sut = scheduler_under_test
    live = rollout.roll_out(sut, sut.driver.plan(app, 1, web=2))
    old = {i.id for i in serving(sut, app, 1, 2)}
    plan = sut.driver.plan(app, 2, web=2, exit_code=3)
    deployment = rollout.begin(sut, plan)
    failed = rollout.failure(sut, plan, deployment).failure
    assert failed.exit_code == 3 and "exited with code 3" in failed.reason and failed.instance.startswith("web.")
    assert any(EXIT_MARKER in line for line in failed.last_lines), failed.last_lines
    assert "s3cret-value" not in " ".join(failed.last_lines)
    report = next(r for r in sut.scheduler.observe(plan, deployment.id) if r.exit_code is not None)
    assert report.release == 2 and report.exit_code == 3 and (report.state in ("exited", "dead") or report.restarts)

    sut.scheduler.discard(plan, deployment.id)
    until(sut, "v2's instances gone", lambda: gone(sut, plan, deployment.id))
    assert {i.id for i in serving(sut, app, 1, 2)} == old, "v1 kept serving, untouched"
    until(sut, "v2's instances stopped", lambda: sut.scheduler.retire(sut.driver.plan(app, 1, web=2),
                                                                       keep={live.id}) == 0)


def test_a_canary_whose_check_answers_500_fails_by_its_check(scheduler_under_test, app):
    sut = scheduler_under_test
    rollout.roll_out(sut, sut.driver.plan(app, 1))
    plan = sut.driver.plan(app, 2, healthy=False)
    deployment = rollout.begin(sut, plan)
    failed = rollout.failure(sut, plan, deployment).failure
    assert failed.check and failed.check.startswith("HTTP 500"), failed
    assert "unhealthy" in failed.check, "the answer's body is quoted"
    sut.scheduler.discard(plan, deployment.id)
    serving(sut, app, 1, 1)


def test_a_first_release_that_exits_leaves_nothing_running(scheduler_under_test, app):
    sut = scheduler_under_test
    plan = sut.driver.plan(app, 1, exit_code=4)
    deployment = rollout.begin(sut, plan)
    failed = rollout.failure(sut, plan, deployment).failure
    assert failed.exit_code == 4 and any(EXIT_MARKER in line for line in failed.last_lines)
    sut.scheduler.discard(plan, deployment.id)
    until(sut, "no instance left", lambda: running(sut, app) == [] and gone(sut, plan, deployment.id))


def test_discard_removes_the_canaries_and_the_old_instances_keep_serving(scheduler_under_test, app):
    sut = scheduler_under_test
    live = rollout.roll_out(sut, sut.driver.plan(app, 1, web=2))
    old = {i.id for i in serving(sut, app, 1, 2)}
    plan = sut.driver.plan(app, 2, web=2)
    deployment = rollout.begin(sut, plan)
    until(sut, "the canaries of v2", lambda: len(sut.scheduler.observe(plan, deployment.id)) == 2)
    sut.scheduler.discard(plan, deployment.id)
    until(sut, "the canaries gone", lambda: gone(sut, plan, deployment.id)
          and {i.release for i in running(sut, app)} == {1})
    assert {i.id for i in serving(sut, app, 1, 2)} == old
    until(sut, "v2's instances stopped", lambda: sut.scheduler.retire(sut.driver.plan(app, 1, web=2),
                                                                       keep={live.id}) == 0)


def test_a_newer_deployment_supersedes_one_still_starting(scheduler_under_test, app):
    sut = scheduler_under_test
    rollout.roll_out(sut, sut.driver.plan(app, 1))
    second = sut.driver.plan(app, 2)
    superseded = rollout.begin(sut, second)
    sut.scheduler.discard(second, superseded.id)
    third = sut.driver.plan(app, 3)
    rollout.roll_out(sut, third)
    serving(sut, app, 3, 1)
    assert gone(sut, second, superseded.id)


def test_quantities_change_in_place_through_reconcile(scheduler_under_test, app):
    sut = scheduler_under_test
    live = rollout.roll_out(sut, sut.driver.plan(app, 1, web=1))
    (first,) = serving(sut, app, 1, 1)
    sut.scheduler.reconcile(sut.driver.plan(app, 1, web=3, worker=1), live.id, {live.id})
    scaled = serving(sut, app, 1, 4)
    assert sorted(i.type for i in scaled) == ["web", "web", "web", "worker"]
    assert first.id in {i.id for i in scaled}, "the running instance stayed: changed in place, not replaced"

    sut.scheduler.reconcile(sut.driver.plan(app, 1, web=1), live.id, {live.id})
    (left,) = serving(sut, app, 1, 1)
    assert left.type == "web"
    sut.scheduler.reconcile(sut.driver.plan(app, 1, web=1), live.id, {live.id})  # nothing to do
    assert [i.id for i in serving(sut, app, 1, 1)] == [left.id]


def test_a_new_restart_token_rolls_fresh_instances_of_the_same_release(scheduler_under_test, app):
    sut = scheduler_under_test
    first = rollout.roll_out(sut, sut.driver.plan(app, 1, web=2, restart_token="t1"))
    before = {i.id for i in serving(sut, app, 1, 2)}
    second = rollout.roll_out(sut, sut.driver.plan(app, 1, web=2, restart_token="t2"))
    assert second.id != first.id
    after = serving(sut, app, 1, 2)
    assert not before & {i.id for i in after}


def test_destroy_removes_the_app(scheduler_under_test, app):
    sut = scheduler_under_test
    rollout.roll_out(sut, sut.driver.plan(app, 1, web=1, worker=1))
    assert app in sut.scheduler.apps()
    sut.scheduler.destroy(app)
    assert app not in sut.scheduler.apps()
    until(sut, "no instances", lambda: sut.scheduler.instances(app) == [])
    sut.scheduler.destroy(app)  # idempotent


def test_an_unknown_app_has_nothing(scheduler_under_test):
    sut = scheduler_under_test
    plan = sut.driver.plan("ct-never-deployed", 1)
    assert sut.scheduler.instances("ct-never-deployed") == []
    assert "ct-never-deployed" not in sut.scheduler.apps()
    assert sut.scheduler.observe(plan, "no-such-deployment") == []
    assert sut.scheduler.retire(plan, keep={"no-such-deployment"}) == 0
    sut.scheduler.destroy("ct-never-deployed")


def test_preview_shows_what_would_run_for_the_plan(scheduler_under_test, app):
    text = scheduler_under_test.scheduler.preview(scheduler_under_test.driver.plan(app, 7))
    assert app in text and "s3cret-value" in text, "the caller masks config values, not the scheduler"


def test_logs_tail_and_follow(scheduler_under_test, app):
    sut = scheduler_under_test
    rollout.roll_out(sut, sut.driver.plan(app, 1))
    lines = until(sut, "the app's output in its logs", lambda: [
        line for line in sut.scheduler.logs(app, "web", 100, False) if LOG_MARKER in line])
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
