"""DeployService (paas/services/deploys.py) over the in-memory fakes: every transition of the
deployment state machine, one level-triggered step at a time, with time driven by a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from paas.domain.deployments import Deployment, Phase
from paas.domain.errors import NotFound, SchedulerUnavailable, ValidationError
from paas.domain.scheduler import instance_label
from paas.services.deploys import DeployService

from ..fakes import HTTP_500, PASSING, REFUSED, FakePlatform

APP = "shop"
BOOT_ERROR = ["Traceback (most recent call last):", "ModuleNotFoundError: No module named 'flask'"]


@pytest.fixture
def p() -> FakePlatform:
    platform = FakePlatform()
    platform.create_app(APP)
    return platform


def service(p: FakePlatform) -> DeployService:
    return DeployService(p.scheduler, p.apps, p.releases, p.formations, p.states, clock=p.clock)


@pytest.fixture
def svc(p: FakePlatform) -> DeployService:
    return service(p)


def drive(p: FakePlatform, svc: DeployService, until: Callable[[], bool], dt: float = 0.25,
          steps: int = 400) -> list[tuple[int, Phase]]:
    """Step the app, the clock moving dt per step, until `until()` holds; the (release, phase)
    of the current deployment after each step, without repeats."""
    seen: list[tuple[int, Phase]] = []
    for _ in range(steps):
        svc.step(APP)
        current = svc.current(APP)
        if current is not None and (not seen or seen[-1] != (current.release, current.phase)):
            seen.append((current.release, current.phase))
        if until():
            return seen
        p.clock.advance(dt)
    raise AssertionError(f"not reached in {steps} steps of {dt}s; phases seen: {seen}")


def phase_is(svc: DeployService, phase: Phase, release: int | None = None) -> Callable[[], bool]:
    def check() -> bool:
        current = svc.current(APP)
        return current is not None and current.phase == phase and release in (None, current.release)
    return check


def deployment_of(svc: DeployService, release: int) -> Deployment:
    return next(d for d in svc.history(APP) if d.release == release)


def started_deployments(p: FakePlatform) -> list[str]:
    return list(dict.fromkeys(c[2] for c in p.scheduler.called("start", APP)))


@pytest.fixture
def live(p: FakePlatform, svc: DeployService) -> Deployment:
    """v2 of the app serves."""
    p.push(APP, "b1")
    drive(p, svc, phase_is(svc, Phase.SUCCESSFUL, 2))
    return svc.current(APP)


def canary(p: FakePlatform, deployment_id: str, type: str = "web"):
    (instance,) = p.scheduler.of(APP, deployment_id, type)
    return instance


# ---------------------------------------------------------------------- deploy and promote
def test_first_deploy_starts_canaries_promotes_them_and_goes_live(p, svc):
    p.push(APP, "b1")
    assert svc.step(APP) is True  # in flight
    started = svc.current(APP)
    assert (started.release, started.phase) == (2, Phase.STARTING)
    assert svc.live_release(APP) is None
    assert started_deployments(p) == [started.id]
    assert [i.routed for i in p.scheduler.of(APP, started.id)] == [False]  # a canary serves nobody yet

    # A first deploy has nothing to drain: it ends at promotion.
    assert drive(p, svc, lambda: svc.live_release(APP) == 2) == [(2, Phase.STARTING), (2, Phase.SUCCESSFUL)]
    promoted = svc.current(APP)
    assert promoted.id == started.id and promoted.promoted and promoted.live_since is not None
    assert p.scheduler.called("promote", APP) == [("promote", APP, started.id)]
    assert [i.deployment for i in p.scheduler.routed(APP)] == [started.id]
    state, _ = p.states.get(APP)
    assert (state.live_release, state.live_deployment, state.failed_target) == (2, started.id, None)
    assert [d.id for d in svc.history(APP)] == [started.id]
    assert svc.history(APP)[0].status == "successful"

    for _ in range(10):  # nothing more to do: no step is in flight, nothing else starts
        assert svc.step(APP) is False
        p.clock.advance(1)
    assert started_deployments(p) == [started.id]


def test_a_second_deploy_keeps_the_old_release_live_until_promotion(p, svc, live):
    p.scheduler.hold_stops = True
    p.push(APP, "b2")
    svc.step(APP)
    new = svc.current(APP)
    assert (new.release, new.phase) == (3, Phase.STARTING)
    for _ in range(3):  # the canary is not yet healthy for min_healthy_time
        assert svc.live_release(APP) == 2
        assert [i.deployment for i in p.scheduler.routed(APP)] == [live.id]
        p.clock.advance(0.3)
        svc.step(APP)

    drive(p, svc, lambda: svc.live_release(APP) == 3)
    retiring = svc.current(APP)
    assert retiring.phase == Phase.RETIRING
    assert [i.deployment for i in p.scheduler.routed(APP)] == [new.id]
    # Unrouted, the old instance drains (drain_time) before it is asked to stop.
    assert [i.stopping for i in p.scheduler.of(APP, live.id)] == [False]
    assert svc.wait(APP, 3, timeout=1).id == new.id  # the caller returns: v3 serves

    drive(p, svc, lambda: any(i.stopping for i in p.scheduler.of(APP)))
    for _ in range(5):  # the old instance is still stopping: still retiring
        assert svc.step(APP) is True and svc.current(APP).phase == Phase.RETIRING
        p.clock.advance(1)
    p.scheduler.finish_stops()
    drive(p, svc, phase_is(svc, Phase.SUCCESSFUL, 3))
    assert {i.deployment for i in p.scheduler.of(APP)} == {new.id}
    assert [d.release for d in svc.history(APP)] == [3, 2]


def test_every_process_type_gets_canaries(p, svc):
    p.push(APP, "b1", procfile={"web": "python app.py", "worker": "python worker.py"})
    p.change_formation(APP, lambda f: f.scaled({"web": 2, "worker": 1}, {"web", "worker"}))
    drive(p, svc, phase_is(svc, Phase.SUCCESSFUL, 2))
    deployment = svc.current(APP)
    assert {name: g.desired_canaries for name, g in deployment.groups.items()} == {"web": 2, "worker": 1}
    assert sorted(i.type for i in p.scheduler.of(APP, deployment.id)) == ["web", "web", "worker"]


# ---------------------------------------------------------------------- fail
def test_an_instance_that_exits_fails_the_deployment_and_keeps_why(p, svc, live):
    p.push(APP, "b2")
    svc.step(APP)
    new = svc.current(APP)
    p.scheduler.exit(canary(p, new.id).id, 3, BOOT_ERROR)
    assert svc.step(APP) is False

    failed = deployment_of(svc, 3)
    assert failed.phase == Phase.FAILED and failed.status == "failed"
    assert failed.failure.exit_code == 3 and failed.failure.last_lines == BOOT_ERROR
    assert "exited with code 3" in failed.failure.reason
    release = p.releases.get(APP, 3)
    assert release.failed and "exited with code 3" in release.failure_reason
    assert "ModuleNotFoundError: No module named 'flask'" in release.failure_reason
    assert svc.live_release(APP) == 2 and p.releases.get(APP, 2).failed is False
    assert p.scheduler.of(APP, new.id) == []  # its canaries are discarded
    assert [i.deployment for i in p.scheduler.routed(APP)] == [live.id]
    assert svc.wait(APP, 3, timeout=1).id == new.id

    for _ in range(20):  # the failed target is not retried while nothing changes
        assert svc.step(APP) is False
        p.clock.advance(1)
    assert started_deployments(p) == [live.id, new.id]
    assert svc.live_release(APP) == 2 and deployment_of(svc, 3).failure == failed.failure

    p.push(APP, "b3")  # something changed: the new release deploys
    drive(p, svc, phase_is(svc, Phase.SUCCESSFUL, 4))
    assert svc.live_release(APP) == 4
    assert [d.release for d in svc.history(APP)] == [4, 3, 2]


def test_a_check_that_answers_500_fails_the_deployment_within_check_failures_observations(p, svc, live):
    p.change_formation(APP, lambda f: f.with_healthchecks({"web": "/health"}, {"web"}))
    drive(p, svc, phase_is(svc, Phase.SUCCESSFUL))  # the check rolled out on v2
    p.push(APP, "b2")
    svc.step(APP)
    new = svc.current(APP)
    assert new.checks == {"web": "/health"}
    probe = canary(p, new.id)
    p.scheduler.set_check(APP, HTTP_500, instance=probe.id)
    started = p.clock()
    drive(p, svc, phase_is(svc, Phase.FAILED, 3), dt=0.5)
    assert p.clock() - started <= 1.0  # three observations 0.5 s apart, not healthy_deadline

    failure = deployment_of(svc, 3).failure
    assert failure.check == HTTP_500.detail and "HTTP 500" in failure.reason
    assert failure.instance == instance_label("web", probe.id)
    assert p.releases.get(APP, 3).failed and svc.live_release(APP) == 2


def test_a_canary_restarted_by_its_scheduler_fails_the_deployment(p, svc, live):
    p.push(APP, "b2")
    svc.step(APP)
    p.scheduler.crash(canary(p, svc.current(APP).id).id, restarts=2, code=1, lines=["killed by a bug"])
    svc.step(APP)
    failure = deployment_of(svc, 3).failure
    assert "restarted 2 time(s)" in failure.reason and failure.last_lines == ["killed by a bug"]
    assert svc.live_release(APP) == 2


def test_a_canary_removed_behind_the_platform_s_back_fails_the_deployment_at_once(p, svc, live):
    p.push(APP, "b2")
    svc.step(APP)
    new = svc.current(APP)
    p.scheduler.vanish(canary(p, new.id).id)
    svc.step(APP)
    failed = deployment_of(svc, 3)
    assert failed.phase == Phase.FAILED and failed.failure.last_lines == ["(the container was removed)"]
    assert svc.live_release(APP) == 2


def test_a_slow_starter_refusing_connections_for_8s_still_deploys(p, svc, live):
    p.push(APP, "b2")
    svc.step(APP)
    new = svc.current(APP)
    p.scheduler.set_check(APP, REFUSED, instance=canary(p, new.id).id)
    for _ in range(32):  # 8 s of refused connections: waited for, never failed early
        svc.step(APP)
        p.clock.advance(0.25)
    assert svc.current(APP).phase == Phase.STARTING and svc.live_release(APP) == 2
    p.scheduler.set_check(APP, PASSING, instance=canary(p, new.id).id)
    drive(p, svc, phase_is(svc, Phase.SUCCESSFUL, 3))


def test_connection_refused_until_healthy_deadline_fails_with_the_last_result(p, svc, live):
    p.push(APP, "b2")
    svc.step(APP)
    new = svc.current(APP)
    p.scheduler.set_check(APP, REFUSED, instance=canary(p, new.id).id)
    drive(p, svc, phase_is(svc, Phase.FAILED, 3), dt=1.0, steps=100)
    assert p.clock() - new.started > p.formations.get(APP)[0].update.healthy_deadline
    failure = deployment_of(svc, 3).failure
    assert failure.check == "connection refused" and "healthy_deadline" in failure.reason


def test_a_start_the_scheduler_refuses_fails_the_deployment_with_the_reason(p, svc, live):
    p.scheduler.start_failures[APP] = "The image registry.local/shop:b2 cannot be pulled: manifest unknown"
    p.push(APP, "b2")
    svc.step(APP)
    failed = deployment_of(svc, 3)
    assert failed.phase == Phase.FAILED
    assert "cannot be pulled: manifest unknown" in failed.failure.reason
    assert p.releases.get(APP, 3).failed and svc.live_release(APP) == 2
    for _ in range(5):
        svc.step(APP)
        p.clock.advance(1)
    assert len(p.scheduler.called("start", APP)) == 2  # v2's and the one refused: not retried


def test_a_failed_health_check_change_leaves_the_previous_check_in_force(p, svc, live):
    p.scheduler.set_check(APP, HTTP_500)  # what /health answers on every instance started from now
    p.change_formation(APP, lambda f: f.with_healthchecks({"web": "/health"}, {"web"}))
    drive(p, svc, phase_is(svc, Phase.FAILED, 2))
    failed = svc.current(APP)
    assert failed.release == 2 and failed.checks == {"web": "/health"}
    assert "withdrawn" in failed.description
    assert p.formations.get(APP)[0].processes["web"].healthcheck is None  # the previous check
    assert p.releases.get(APP, 2).failed is False  # the live release did not fail: the change did
    assert svc.live_release(APP) == 2 and [i.deployment for i in p.scheduler.routed(APP)] == [live.id]
    for _ in range(5):
        svc.step(APP)
        p.clock.advance(1)
    assert len(started_deployments(p)) == 2


# ---------------------------------------------------------------------- superseded, no build
def test_a_newer_release_supersedes_one_still_starting(p, svc, live):
    p.scheduler.set_check(APP, REFUSED)  # v3 keeps starting
    p.push(APP, "b2")
    svc.step(APP)
    v3 = svc.current(APP)
    p.clock.advance(1)
    svc.step(APP)
    assert svc.current(APP).phase == Phase.STARTING
    p.scheduler.set_check(APP, PASSING)
    p.push(APP, "b3")
    drive(p, svc, lambda: svc.current(APP).release == 4)

    superseded = deployment_of(svc, 3)
    assert superseded.id == v3.id and superseded.phase == Phase.SUPERSEDED and superseded.status == "cancelled"
    assert p.scheduler.of(APP, v3.id) == []
    assert p.releases.get(APP, 3).failed is False  # superseded is not failed
    assert svc.wait(APP, 3, timeout=1) is not None  # a caller waiting for v3 is told
    drive(p, svc, phase_is(svc, Phase.SUCCESSFUL, 4))
    assert svc.live_release(APP) == 4
    assert [d.release for d in svc.history(APP)] == [4, 3, 2]


def test_a_newer_release_while_the_previous_instances_stop_ends_the_live_one_and_rolls_on(p, svc, live):
    p.scheduler.hold_stops = True
    p.push(APP, "b2")
    drive(p, svc, lambda: any(i.stopping for i in p.scheduler.of(APP)))
    v3 = svc.current(APP)
    assert v3.phase == Phase.RETIRING
    p.push(APP, "b3")
    drive(p, svc, lambda: svc.current(APP).release == 4)
    ended = deployment_of(svc, 3)
    assert ended.id == v3.id and ended.phase == Phase.SUCCESSFUL  # it went live: not superseded
    assert svc.live_release(APP) == 3 and p.scheduler.of(APP, v3.id)  # serves until v4 is promoted
    drive(p, svc, lambda: svc.live_release(APP) == 4)
    p.scheduler.hold_stops = False  # every previous instance now stops at once
    drive(p, svc, phase_is(svc, Phase.SUCCESSFUL, 4))
    assert {i.deployment for i in p.scheduler.of(APP)} == {svc.current(APP).id}


def test_an_app_without_a_build_starts_nothing(p, svc):
    for _ in range(5):
        assert svc.step(APP) is False
        p.clock.advance(1)
    p.release(APP, config={"A": "1"}, summary="alice set A")  # v2: config, still no build
    assert svc.step(APP) is False
    assert p.scheduler.calls == []
    assert svc.current(APP) is None and svc.live_release(APP) is None and svc.history(APP) == []
    assert svc.wait(APP, 2, timeout=1) is None
    with pytest.raises(NotFound):
        svc.current_plan(p.apps.get(APP)[0])


def test_a_step_for_an_app_that_does_not_exist_does_nothing(p, svc):
    assert svc.step("gone") is False
    assert p.scheduler.calls == []


# ---------------------------------------------------------------------- restart, crashes, scale
def test_restart_rolls_fresh_instances_of_the_live_release(p, svc, live):
    before = {i.id for i in p.scheduler.of(APP)}
    formation = svc.restart(APP)
    assert formation.restart_token != live.token
    drive(p, svc, lambda: (c := svc.current(APP)).token == formation.restart_token and c.phase == Phase.SUCCESSFUL)
    restarted = svc.current(APP)
    assert restarted.release == 2 and restarted.id != live.id
    after = {i.id for i in p.scheduler.of(APP)}
    assert after and not after & before
    assert [i.deployment for i in p.scheduler.routed(APP)] == [restarted.id]
    assert p.states.get(APP)[0].live_target == (2, formation.restart_token)
    assert svc.wait(APP, None, timeout=1, after=live.id).id == restarted.id  # what ps:restart waits for


def test_restart_needs_something_running(p, svc):
    with pytest.raises(ValidationError):
        svc.restart(APP)


def test_restart_of_an_unknown_type_is_refused(p, svc, live):
    with pytest.raises(ValidationError):
        svc.restart(APP, "clock")


def test_a_crashed_or_vanished_instance_of_the_live_release_is_replaced(p, svc, live, monkeypatch):
    # The throttle between reconciles is not what this test is about.
    monkeypatch.setattr("paas.services.deploys.RECONCILE_EVERY", 0.0)
    (first,) = p.scheduler.of(APP, live.id)
    p.scheduler.vanish(first.id)
    drive(p, svc, lambda: len(p.scheduler.of(APP, live.id)) == 1)
    assert ("reconcile", APP, live.id) in p.scheduler.calls
    (second,) = p.scheduler.of(APP, live.id)
    assert second.id != first.id and second.routed

    p.scheduler.exit(second.id, 137)
    drive(p, svc, lambda: [i.state for i in p.scheduler.of(APP, live.id)] == ["running"])
    assert p.scheduler.of(APP, live.id)[0].id not in (first.id, second.id)
    assert svc.current(APP).id == live.id and len(started_deployments(p)) == 1  # no new deployment


def test_scaling_the_live_release_reconciles_at_once_without_a_new_deployment(p, svc, live):
    p.change_formation(APP, lambda f: f.scaled({"web": 3}, {"web"}))
    svc.step(APP)
    assert len(p.scheduler.of(APP, live.id, "web")) == 3
    assert svc.current(APP).id == live.id and len(started_deployments(p)) == 1


def test_a_release_with_nothing_to_run_is_live_at_once(p, svc):
    p.push(APP, "b1", procfile={"worker": "python worker.py"})  # workers start at 0
    svc.step(APP)
    assert svc.live_release(APP) == 2 and svc.current(APP).phase == Phase.SUCCESSFUL
    assert p.scheduler.of(APP) == []


# ---------------------------------------------------------------------- controller restart
def test_a_new_controller_resumes_a_starting_deployment(p, svc):
    p.push(APP, "b1")
    svc.step(APP)
    started = svc.current(APP)
    p.clock.advance(0.5)
    svc.step(APP)

    resumed = service(p)  # the first controller died; another took the app's lock
    drive(p, resumed, phase_is(resumed, Phase.SUCCESSFUL, 2))
    assert resumed.current(APP).id == started.id
    assert started_deployments(p) == [started.id] and len(p.scheduler.of(APP)) == 1
    assert resumed.live_release(APP) == 2


def test_a_new_controller_resumes_a_retiring_deployment(p, svc, live):
    p.scheduler.hold_stops = True
    p.push(APP, "b2")
    drive(p, svc, lambda: any(i.stopping for i in p.scheduler.of(APP)))
    p.scheduler.finish_stops()
    resumed = service(p)
    drive(p, resumed, phase_is(resumed, Phase.SUCCESSFUL, 3))
    assert resumed.live_release(APP) == 3 and len(started_deployments(p)) == 2


def test_a_start_interrupted_before_the_canaries_were_placed_is_completed(p, svc):
    p.push(APP, "b1")
    p.scheduler.errors[APP] = SchedulerUnavailable("The Docker engine is unreachable")
    with pytest.raises(SchedulerUnavailable):
        svc.step(APP)  # the supervisor logs it and steps again
    del p.scheduler.errors[APP]
    drive(p, service(p), phase_is(svc, Phase.SUCCESSFUL, 2), dt=1.0, steps=30)
    assert svc.live_release(APP) == 2 and len(p.scheduler.of(APP)) == 1


# ---------------------------------------------------------------------- waiting, queries, destroy
def test_wait_returns_once_the_release_is_live(p, svc):
    p.push(APP, "b1")
    lines: list[str] = []
    result: list[Deployment | None] = []
    waiter = threading.Thread(target=lambda: result.append(svc.wait(APP, 2, timeout=10, sink=lines.append)))
    waiter.start()
    drive(p, svc, lambda: not waiter.is_alive() or svc.current(APP).phase == Phase.SUCCESSFUL)
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert result[0].release == 2 and result[0].promoted
    assert lines and all(line.startswith("-----> ") for line in lines)


def test_wait_returns_the_failure(p, svc, live):
    p.push(APP, "b2")
    svc.step(APP)
    p.scheduler.exit(canary(p, svc.current(APP).id).id, 1, ["boom"])
    svc.step(APP)
    failed = svc.wait(APP, 3, timeout=1)
    assert failed.phase == Phase.FAILED and failed.failure.last_lines == ["boom"]


def test_wait_gives_up_after_its_timeout(p, svc):
    p.push(APP, "b1")
    svc.step(APP)
    with pytest.raises(ValidationError, match="still deploying"):
        svc.wait(APP, 2, timeout=0.2)


def test_the_plan_is_the_live_release_s_not_a_failed_head_s(p, svc, live):
    p.push(APP, "b2")
    svc.step(APP)
    p.scheduler.exit(canary(p, svc.current(APP).id).id, 1)
    svc.step(APP)
    plan = svc.current_plan(p.apps.get(APP)[0])
    assert plan.release == 2 and plan.image == "registry.local/shop:b1"


def test_destroy_removes_the_instances_and_the_state(p, svc, live):
    assert svc.orphaned_apps({APP}) == set() and svc.orphaned_apps(set()) == {APP}
    svc.destroy(APP)
    assert p.scheduler.of(APP) == [] and svc.current(APP) is None and svc.live_release(APP) is None
