"""The supervisor (paas/services/supervisor.py) over the in-memory fakes: it steps every app whose
lock it holds, survives any one app's error, sweeps what runs for apps that are gone, and lets
another controller take over an app whose lock lapsed."""

from __future__ import annotations

import logging
import threading

import pytest

from paas.domain.deployments import Phase
from paas.domain.errors import SchedulerUnavailable
from paas.domain.scheduler import AppPlan, ProcessPlan
from paas.services.deploys import DeployService
from paas.services.supervisor import Supervisor

from ..fakes import FakeAppLocks, FakeAppStore, FakePlatform

LOGGER = "paas.services.supervisor"


@pytest.fixture
def p() -> FakePlatform:
    return FakePlatform()


def deploys(p: FakePlatform) -> DeployService:
    return DeployService(p.scheduler, p.apps, p.releases, p.formations, p.states, clock=p.clock)


def supervisor(p: FakePlatform, locks: FakeAppLocks | None = None, tick: float = 0.0, **kw) -> Supervisor:
    # tick 0: an app's backoff after an unexpected error is 0 s, so the next run_once retries it.
    return Supervisor(deploys(p), p.apps, locks or p.locks(), p.changes, tick=tick, **kw)


def live_release(p: FakePlatform, app: str) -> int | None:
    return p.states.get(app)[0].live_release


def run_until(p: FakePlatform, sup: Supervisor, until, dt: float = 0.25, rounds: int = 200) -> None:
    for _ in range(rounds):
        sup.run_once()
        if until():
            return
        p.clock.advance(dt)
    raise AssertionError(f"not reached in {rounds} rounds")


def deployable(p: FakePlatform, *names: str) -> None:
    for name in names:
        p.create_app(name)
        p.push(name, "b1")


def test_run_once_steps_every_app_it_holds_and_says_while_one_is_in_flight(p):
    deployable(p, "shop", "blog")
    sup = supervisor(p)
    assert sup.run_once() is True
    assert {c[1] for c in p.scheduler.called("start")} == {"shop", "blog"}
    assert sup.locks.held() == {"shop", "blog"}
    run_until(p, sup, lambda: live_release(p, "shop") == live_release(p, "blog") == 2)
    run_until(p, sup, lambda: sup.run_once() is False)  # retired: nothing in flight


def test_an_unexpected_error_in_one_app_is_logged_and_the_other_apps_are_stepped(p, caplog):
    deployable(p, "bad", "shop")
    p.scheduler.errors["bad"] = KeyError("a bug in an adapter")
    sup = supervisor(p)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        sup.run_once()
    assert p.scheduler.called("start", "shop")
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert "bad" in record.getMessage() and "unexpected error" in record.getMessage()
    assert record.exc_info and record.exc_info[0] is KeyError  # with its traceback

    run_until(p, sup, lambda: live_release(p, "shop") == 2)
    assert live_release(p, "bad") is None
    del p.scheduler.errors["bad"]  # fixed (or the outage ended): retried, and deployed
    run_until(p, sup, lambda: live_release(p, "bad") == 2)


def test_an_app_that_keeps_failing_is_backed_off_while_the_others_go_on(p):
    deployable(p, "bad", "shop")
    p.scheduler.errors["bad"] = RuntimeError("a bug")
    sup = supervisor(p, tick=10.0)  # the first retry waits 10 s: far beyond this test
    sup.run_once()
    calls = len(p.scheduler.called("start", "bad"))
    for _ in range(20):
        assert sup.run_once() is True  # busy: the backed-off app is to be stepped again
        p.clock.advance(0.25)
    assert len(p.scheduler.called("start", "bad")) == calls
    assert live_release(p, "shop") == 2


def test_a_store_or_scheduler_outage_of_one_app_is_a_warning_and_the_others_go_on(p, caplog):
    deployable(p, "bad", "shop")
    p.scheduler.errors["bad"] = SchedulerUnavailable("The Docker engine is unreachable")
    sup = supervisor(p)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        sup.run_once()
    assert any(r.levelno == logging.WARNING and "Docker engine is unreachable" in r.getMessage()
               for r in caplog.records if r.name == LOGGER)
    assert p.scheduler.called("start", "shop")
    del p.scheduler.errors["bad"]
    run_until(p, sup, lambda: live_release(p, "bad") == live_release(p, "shop") == 2)


def test_the_sweep_removes_the_instances_of_an_app_that_no_longer_exists(p, caplog):
    deployable(p, "shop")
    plan = AppPlan(app="gone", release=3, image="registry.local/gone:b1", env={},
                   processes=[ProcessPlan(type="web", command="python app.py", quantity=2)])
    p.scheduler.start(plan, "dep-of-a-destroyed-app")  # e.g. a step that raced its destroy
    finished: list[str] = []

    def finish_destroys() -> list[str]:  # AppService.finish_pending_destroys: none pending here
        finished.append("called")
        return []

    sup = supervisor(p, finish_destroys=finish_destroys)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        sup.run_once()
    assert p.scheduler.of("gone") == [] and ("destroy", "gone", None) in p.scheduler.calls
    assert "gone" not in sup.locks.held() and p.kv.get(("locks", "gone")) is None
    assert finished == ["called"]
    assert any("gone" in r.getMessage() for r in caplog.records if r.name == LOGGER)
    assert p.scheduler.of("shop")  # the app that exists keeps its instances


def test_the_sweep_leaves_alone_an_app_another_controller_holds(p):
    p.scheduler.start(AppPlan(app="other", release=2, image="i", env={},
                              processes=[ProcessPlan(type="web", command="x", quantity=1)]), "dep-x")
    assert p.locks("controller-2").try_acquire("other")
    supervisor(p).run_once()
    assert len(p.scheduler.of("other")) == 1


def test_the_lock_of_a_destroyed_app_is_forgotten(p):
    deployable(p, "shop")
    sup = supervisor(p)
    sup.run_once()
    assert sup.locks.held() == {"shop"}
    app, index = p.apps.get("shop")
    deploys(p).destroy("shop")
    p.apps.destroy(app, index)
    sup.run_once()
    assert sup.locks.held() == set()
    deployable(p, "shop")  # a new app of that name is free for any controller
    assert p.locks("controller-2").try_acquire("shop")


def test_two_controllers_never_drive_one_app_and_a_lapsed_one_is_taken_over(p):
    deployable(p, "shop")
    first, second = supervisor(p, p.locks("controller-1")), supervisor(p, p.locks("controller-2"))
    first.run_once()
    second.run_once()
    assert first.locks.held() == {"shop"} and second.locks.held() == set()
    starting = p.states.get("shop")[0].current
    assert starting.phase == Phase.STARTING and len(p.scheduler.called("start", "shop")) == 1

    first.locks.lapse()  # the first controller died: its session's locks went
    run_until(p, second, lambda: live_release(p, "shop") == 2)
    assert second.locks.held() == {"shop"}
    assert p.states.get("shop")[0].current.id == starting.id  # resumed, not restarted
    assert len(p.scheduler.of("shop")) == 1


class ListFailsOnce(FakeAppStore):
    """An AppStore whose first list() hits a bug (not a PaasError)."""

    failed = False

    def list(self):
        if not self.failed:
            self.failed = True
            raise RuntimeError("a bug outside any app's step")
        return super().list()


def test_the_supervisor_thread_survives_an_error_outside_any_step(p, caplog):
    deployable(p, "shop")
    p.apps = ListFailsOnce(p.kv)
    sup = supervisor(p, tick=0.01)
    done = threading.Event()
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        sup.start()
        try:
            # The loop waits IDLE_WAIT (1 s) after the error; the fake clock moves meanwhile.
            for _ in range(600):
                if live_release(p, "shop") == 2:
                    done.set()
                    break
                p.clock.advance(0.25)
                done.wait(0.01)
        finally:
            sup.stop()
    assert done.is_set()
    assert any("unexpected error" in r.getMessage() and r.exc_info for r in caplog.records if r.name == LOGGER)
