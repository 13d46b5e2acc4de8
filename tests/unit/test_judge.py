"""The deployment state machine's pure parts (paas/domain/deployments.py): every rule of `judge`
on a fixed clock, and the typed values a controller resumes from after a restart."""

from __future__ import annotations

import json

import pytest

from paas.domain.deployments import (
    LAST_LINES,
    MAX_HISTORY,
    Deployment,
    DeployState,
    Fail,
    Failure,
    GroupState,
    InstanceProgress,
    Phase,
    Promote,
    Wait,
    judge,
)
from paas.domain.scheduler import CheckResult, InstanceReport, UpdatePolicy

from ..fakes import HTTP_500, PASSING, REFUSED

T0 = 1_800_000_000.0
POLICY = UpdatePolicy(min_healthy_time=1.0, healthy_deadline=60.0, check_failures=3)
WEB_ID = "paas-shop-web-v2-00000a"
WORKER_ID = "paas-shop-worker-v2-00000b"
TIMED_OUT = CheckResult(passing=False, detail="timed out after 2s", answered=False)


def deployment(**canaries: int) -> Deployment:
    groups = {name: GroupState(desired_total=n, desired_canaries=n) for name, n in (canaries or {"web": 1}).items()}
    return Deployment(id="dep-1", app="shop", release=2, token="t1", started=T0, groups=groups)


def web(check: CheckResult | None = PASSING, state: str = "running", id: str = WEB_ID, **kw) -> InstanceReport:
    return InstanceReport(id=id, type="web", release=2, state=state, check=check, **kw)


def worker(state: str = "running", **kw) -> InstanceReport:
    return InstanceReport(id=WORKER_ID, type="worker", release=2, state=state, check=None, **kw)


def observe(d: Deployment, checks: list[CheckResult], start: float = T0, every: float = 1.0,
            policy: UpdatePolicy = POLICY) -> list:
    """One observation per check result, `every` seconds apart; the verdicts."""
    return [judge(d, [web(check)], policy, start + n * every) for n, check in enumerate(checks)]


# ---------------------------------------------------------------------- promote
def test_promotes_once_every_canary_passed_for_min_healthy_time_and_not_before():
    d = deployment()
    assert isinstance(judge(d, [web()], POLICY, T0), Wait)
    early = judge(d, [web()], POLICY, T0 + 0.5)
    assert isinstance(early, Wait) and "(0/1)" in early.description
    assert d.groups["web"].healthy == 0 and d.groups["web"].placed_canaries == 1
    verdict = judge(d, [web()], POLICY, T0 + 1.0)
    assert isinstance(verdict, Promote) and "v2" in verdict.description
    assert d.groups["web"].healthy == 1 and d.groups["web"].unhealthy == 0


def test_min_healthy_time_counts_from_the_last_failing_check():
    d = deployment()
    verdicts = observe(d, [PASSING, HTTP_500, PASSING], every=0.5)  # passing again since T0 + 1.0
    assert all(isinstance(v, Wait) for v in verdicts)
    assert isinstance(judge(d, [web()], POLICY, T0 + 1.9), Wait)
    assert isinstance(judge(d, [web()], POLICY, T0 + 2.0), Promote)


def test_an_instance_still_starting_is_not_healthy():
    d = deployment()
    judge(d, [web()], POLICY, T0)
    assert isinstance(judge(d, [web(state="starting")], POLICY, T0 + 5), Wait)  # e.g. restarted by hand
    assert isinstance(judge(d, [web()], POLICY, T0 + 5.5), Wait)
    assert isinstance(judge(d, [web()], POLICY, T0 + 6.5), Promote)


def test_every_group_must_be_healthy_before_promotion():
    d = deployment(web=1, worker=1)
    judge(d, [web(), worker(state="starting")], POLICY, T0)
    verdict = judge(d, [web(), worker(state="starting")], POLICY, T0 + 2)
    assert isinstance(verdict, Wait) and "(1/2)" in verdict.description
    judge(d, [web(), worker()], POLICY, T0 + 3)
    assert isinstance(judge(d, [web(), worker()], POLICY, T0 + 4), Promote)


def test_workers_without_a_check_are_healthy_when_running_for_min_healthy_time():
    d = deployment(worker=1)
    assert isinstance(judge(d, [worker()], POLICY, T0), Wait)
    assert isinstance(judge(d, [worker()], POLICY, T0 + 0.9), Wait)
    assert isinstance(judge(d, [worker()], POLICY, T0 + 1.0), Promote)
    assert d.instances[WORKER_ID].last_check == "running"
    assert not d.instances[WORKER_ID].answered


def test_a_zero_min_healthy_time_promotes_at_the_first_passing_observation():
    policy = UpdatePolicy(min_healthy_time=0.0, healthy_deadline=60.0)
    assert isinstance(judge(deployment(), [web()], policy, T0), Promote)


# ---------------------------------------------------------------------- fail by exit
@pytest.mark.parametrize("report,words", [
    (web(state="exited", exit_code=3), "exited with code 3"),
    (web(state="dead", exit_code=1), "exited with code 1"),
    (web(state="exited", exit_code=137), "killed by signal 9 (exit code 137)"),
    (web(state="exited", exit_code=137, oom_killed=True), "out of memory (OOM)"),
    (web(state="running", restarts=2, exit_code=1), "restarted 2 time(s) (last exit code 1)"),
    (web(state="exited"), "exited before becoming healthy"),
])
def test_an_instance_that_exits_is_oom_killed_or_restarts_fails_at_once(report, words):
    lines = ["Traceback (most recent call last):", "ModuleNotFoundError: No module named 'flask'"]
    report = InstanceReport(**{**report.__dict__, "last_lines": lines})
    verdict = judge(deployment(), [report], POLICY, T0)  # the very first observation: no waiting
    assert isinstance(verdict, Fail)
    failure = verdict.failure
    assert words in failure.reason and failure.reason.startswith("web.00000a ")
    assert failure.instance == "web.00000a"
    assert (failure.exit_code, failure.oom_killed) == (report.exit_code, report.oom_killed)
    assert failure.last_lines == lines
    explained = failure.explain()
    assert explained[0] == failure.reason
    assert "last output of web.00000a:" in explained and "  ModuleNotFoundError: No module named 'flask'" in explained


def test_an_exit_after_passing_still_fails_and_names_the_type_that_exited():
    d = deployment(web=1, worker=1)
    judge(d, [web(), worker()], POLICY, T0)
    verdict = judge(d, [web(), worker(state="exited", exit_code=2, last_lines=["boom"])], POLICY, T0 + 0.9)
    assert isinstance(verdict, Fail)
    assert verdict.failure.instance == "worker.00000b" and verdict.failure.exit_code == 2
    assert verdict.failure.last_lines == ["boom"]


# ---------------------------------------------------------------------- fail by check
def test_a_check_that_answers_500_fails_after_check_failures_in_a_row_and_not_before():
    d = deployment()
    assert all(isinstance(v, Wait) for v in observe(d, [HTTP_500] * 2))
    assert d.instances[WEB_ID].failures_in_row == 2 and d.groups["web"].unhealthy == 1
    third = judge(d, [web(HTTP_500)], POLICY, T0 + 2)
    assert isinstance(third, Fail)  # at T0 + 2: long before healthy_deadline
    failure = third.failure
    assert failure.check == HTTP_500.detail and failure.instance == "web.00000a"
    assert "HTTP 500" in failure.reason and "3 times in a row" in failure.reason


@pytest.mark.parametrize("check_failures", [1, 5])
def test_check_failures_is_the_number_of_failures_in_a_row(check_failures):
    policy = UpdatePolicy(min_healthy_time=1.0, healthy_deadline=60.0, check_failures=check_failures)
    verdicts = observe(deployment(), [HTTP_500] * check_failures, policy=policy)
    assert [type(v) for v in verdicts] == [Wait] * (check_failures - 1) + [Fail]


def test_connection_refused_before_any_answer_waits_until_healthy_deadline_then_fails_with_the_last_result():
    d = deployment()
    verdicts = observe(d, [REFUSED] * 60)  # T0 .. T0 + 59
    assert all(isinstance(v, Wait) for v in verdicts)
    assert d.instances[WEB_ID].failures_in_row == 0 and not d.instances[WEB_ID].answered
    assert isinstance(judge(d, [web(REFUSED)], POLICY, T0 + 60.0), Wait)  # never early
    verdict = judge(d, [web(REFUSED)], POLICY, T0 + 60.5)
    assert isinstance(verdict, Fail)
    failure = verdict.failure
    assert failure.check == "connection refused" and failure.instance == "web.00000a"
    assert "healthy_deadline (60s)" in failure.reason and "connection refused" in failure.reason


def test_a_timeout_before_any_answer_also_waits():
    d = deployment()
    assert all(isinstance(v, Wait) for v in observe(d, [TIMED_OUT] * 10))
    verdict = judge(d, [web(TIMED_OUT)], POLICY, T0 + 61)
    assert isinstance(verdict, Fail) and verdict.failure.check == "timed out after 2s"


def test_a_slow_starter_that_binds_its_port_after_8s_still_deploys():
    d = deployment()
    assert all(isinstance(v, Wait) for v in observe(d, [REFUSED] * 8))  # T0 .. T0 + 7
    assert all(isinstance(v, Wait) for v in observe(d, [PASSING], start=T0 + 8))
    assert isinstance(judge(d, [web()], POLICY, T0 + 9), Promote)


@pytest.mark.parametrize("answer", [PASSING, HTTP_500])
def test_refused_after_an_answer_counts_as_a_failure(answer):
    d = deployment()
    verdicts = observe(d, [answer, REFUSED, REFUSED, REFUSED])
    if answer is HTTP_500:  # the 500 was the first of three
        assert [type(v) for v in verdicts[:3]] == [Wait, Wait, Fail]
        assert verdicts[2].failure.check == "connection refused"
        return
    assert [type(v) for v in verdicts] == [Wait, Wait, Wait, Fail]
    assert verdicts[3].failure.check == "connection refused"
    assert "connection refused" in verdicts[3].failure.reason


def test_a_passing_result_resets_the_count():
    d = deployment()
    verdicts = observe(d, [HTTP_500, HTTP_500, PASSING, HTTP_500, HTTP_500])
    assert all(isinstance(v, Wait) for v in verdicts)
    assert d.instances[WEB_ID].failures_in_row == 2
    assert isinstance(judge(d, [web(HTTP_500)], POLICY, T0 + 5), Fail)


def test_failures_are_counted_per_instance():
    other = "paas-shop-web-v2-00000c"
    d = deployment(web=2)
    for n in range(2):  # each of the two fails twice: neither has failed three times in a row
        assert isinstance(judge(d, [web(HTTP_500), web(HTTP_500, id=other)], POLICY, T0 + n), Wait)
    assert d.groups["web"].unhealthy == 2
    verdict = judge(d, [web(PASSING), web(HTTP_500, id=other)], POLICY, T0 + 2)
    assert isinstance(verdict, Fail) and verdict.failure.instance == "web.00000c"


# ---------------------------------------------------------------------- the deadline
def test_canaries_missing_at_the_deadline_fail_the_deployment():
    d = deployment(web=2)
    judge(d, [web()], POLICY, T0)
    verdict = judge(d, [web()], POLICY, T0 + 30)
    assert isinstance(verdict, Wait) and "(1/2)" in verdict.description
    assert d.groups["web"].placed_canaries == 1
    verdict = judge(d, [web()], POLICY, T0 + 61)
    assert isinstance(verdict, Fail)
    assert verdict.failure.reason == "Instances of web were not placed within healthy_deadline (60s)"


def test_no_canary_at_all_at_the_deadline_fails():
    d = deployment(web=1, worker=1)
    assert isinstance(judge(d, [], POLICY, T0 + 59), Wait)
    verdict = judge(d, [], POLICY, T0 + 61)
    assert isinstance(verdict, Fail) and "web, worker were not placed" in verdict.failure.reason


def test_an_instance_never_running_at_the_deadline_fails_without_a_check_result():
    d = deployment(worker=1)
    verdict = judge(d, [worker(state="starting")], POLICY, T0 + 61)
    assert isinstance(verdict, Fail)
    assert verdict.failure.instance == "worker.00000b" and "no check result yet" in verdict.failure.reason


def test_an_instance_that_went_away_is_forgotten():
    d = deployment()
    judge(d, [web(HTTP_500)], POLICY, T0)
    judge(d, [web(HTTP_500, id="paas-shop-web-v2-00000d")], POLICY, T0 + 1)
    assert set(d.instances) == {"paas-shop-web-v2-00000d"}


# ---------------------------------------------------------------------- values a restart resumes from
def _through_json(data: dict) -> dict:
    return json.loads(json.dumps(data))  # as the store keeps it


def test_a_controller_restart_resumes_counting_check_failures():
    d = deployment()
    observe(d, [HTTP_500, HTTP_500])
    resumed = Deployment.from_dict(_through_json(d.to_dict()))
    assert resumed == d
    verdict = judge(resumed, [web(HTTP_500)], POLICY, T0 + 2)
    assert isinstance(verdict, Fail) and "3 times in a row" in verdict.failure.reason


def test_a_controller_restart_keeps_how_long_a_canary_has_passed():
    d = deployment()
    judge(d, [web()], POLICY, T0)
    resumed = Deployment.from_dict(_through_json(d.to_dict()))
    assert isinstance(judge(resumed, [web()], POLICY, T0 + 1.0), Promote)


def test_deployment_round_trips_with_its_failure():
    d = Deployment(id="dep-2", app="shop", release=3, token="t2", phase=Phase.FAILED, description="failed",
                   groups={"web": GroupState(2, 2, 1, 0, 1, False)},
                   instances={WEB_ID: InstanceProgress(None, 2, True, "HTTP 500")},
                   failure=Failure(reason="web.00000a exited with code 3 before becoming healthy",
                                   instance="web.00000a", exit_code=3, last_lines=["boom"]),
                   checks={"web": "/health", "worker": None}, started=T0, live_since=None,
                   created_at="2026-12-02T00:00:00Z", updated_at="2026-12-02T00:00:05Z",
                   finished_at="2026-12-02T00:00:05Z")
    data = _through_json(d.to_dict())
    assert (data["phase"], data["status"], data["promoted"]) == ("failed", "failed", False)
    restored = Deployment.from_dict(data)
    assert restored == d and isinstance(restored.phase, Phase) and isinstance(restored.failure, Failure)


def test_deploy_state_round_trips():
    live = Deployment(id="dep-1", app="shop", release=2, token="t1", phase=Phase.SUCCESSFUL, started=T0,
                      live_since=T0 + 2)
    current = deployment()
    state = DeployState(live_release=2, live_token="t1", live_deployment="dep-1", live_checks={"web": "/health"},
                        current=current, failed_target=(3, "t1"), history=[live])
    restored = DeployState.from_dict(_through_json(state.to_dict()))
    assert restored == state
    assert restored.failed_target == (3, "t1") and restored.live_target == (2, "t1")
    assert DeployState.from_dict(_through_json(DeployState().to_dict())) == DeployState()


# ---------------------------------------------------------------------- the values' own rules
@pytest.mark.parametrize("phase,status,promoted,active,settled", [
    (Phase.STARTING, "running", False, True, False),
    (Phase.RETIRING, "running", True, True, True),
    (Phase.SUCCESSFUL, "successful", True, False, True),
    (Phase.FAILED, "failed", False, False, True),
    (Phase.SUPERSEDED, "cancelled", False, False, True),
])
def test_what_each_phase_means(phase, status, promoted, active, settled):
    d = Deployment(id="d", app="shop", release=2, phase=phase)
    assert (d.status, d.promoted, d.active, d.finished, d.settled) == (status, promoted, active, not active, settled)


def test_finish_keeps_the_newest_first_once_each_and_bounded():
    state = DeployState()
    for n in range(MAX_HISTORY + 5):
        state.finish(Deployment(id=f"d{n}", app="shop", release=n + 1))
    assert len(state.history) == MAX_HISTORY and state.history[0].id == f"d{MAX_HISTORY + 4}"
    state.finish(Deployment(id="d10", app="shop", release=11, phase=Phase.FAILED))
    assert [d.id for d in state.history].count("d10") == 1 and state.history[0].phase == Phase.FAILED


def test_all_deployments_puts_the_one_in_flight_first_once():
    done = Deployment(id="d1", app="shop", release=2, phase=Phase.SUCCESSFUL)
    flying = Deployment(id="d2", app="shop", release=3)
    assert [d.id for d in DeployState(current=flying, history=[done]).all_deployments()] == ["d2", "d1"]
    assert [d.id for d in DeployState(current=done, history=[done]).all_deployments()] == ["d1"]
    assert DeployState().all_deployments() == [] and DeployState().live_target is None


def test_failure_explains_the_check_and_only_the_last_lines():
    failure = Failure(reason="web.00000a was not healthy within healthy_deadline (60s)", instance="web.00000a",
                      check="HTTP 503: warming up", last_lines=[f"line {n}" for n in range(LAST_LINES + 5)])
    lines = failure.explain()
    assert lines[:3] == [failure.reason, "last check result: HTTP 503: warming up", "last output of web.00000a:"]
    assert lines[3:] == [f"  line {n}" for n in range(5, LAST_LINES + 5)]
    named = Failure(reason="The health check of web.00000a failed 3 times in a row: HTTP 500", check="HTTP 500")
    assert named.explain() == [named.reason]
