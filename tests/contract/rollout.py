"""Rollouts driven the way the deploy service drives them (services/deploys.py): a Deployment of
the domain, start, then observe and judge (domain/deployments.py, the plan's UpdatePolicy)
until a verdict, promote, retire until nothing else runs."""

from __future__ import annotations

import secrets
import time

from paas.domain.deployments import Deployment, Fail, GroupState, Promote, Verdict, Wait, judge
from paas.domain.scheduler import AppPlan

from ..support.polling import wait_until
from .driver import SchedulerUnderTest


def new_deployment(plan: AppPlan) -> Deployment:
    return Deployment(id=secrets.token_hex(6), app=plan.app, release=plan.release, token=plan.restart_token or "",
                      started=time.time(),
                      groups={p.type: GroupState(desired_total=p.quantity, desired_canaries=p.quantity)
                              for p in plan.processes if p.quantity > 0})


def begin(sut: SchedulerUnderTest, plan: AppPlan) -> Deployment:
    deployment = new_deployment(plan)
    sut.scheduler.start(plan, deployment.id)
    return deployment


def verdict(sut: SchedulerUnderTest, plan: AppPlan, deployment: Deployment) -> Verdict:
    """Observe and judge until the verdict is no longer Wait (the leg's timeout)."""
    def step() -> Verdict | None:
        outcome = judge(deployment, sut.scheduler.observe(plan, deployment.id), plan.update, time.time())
        return None if isinstance(outcome, Wait) else outcome

    return wait_until(step, timeout=sut.driver.timeout, interval=0.1, message=f"a verdict on v{plan.release}")


def promote(sut: SchedulerUnderTest, plan: AppPlan, deployment: Deployment) -> None:
    outcome = verdict(sut, plan, deployment)
    assert isinstance(outcome, Promote), "\n".join(outcome.failure.explain()) if isinstance(outcome, Fail) else outcome
    sut.scheduler.promote(plan, deployment.id)


def retire(sut: SchedulerUnderTest, plan: AppPlan, deployment: Deployment) -> None:
    wait_until(lambda: sut.scheduler.retire(plan, keep={deployment.id}) == 0, timeout=sut.driver.timeout,
               interval=0.1, message=f"the instances before v{plan.release} gone")


def roll_out(sut: SchedulerUnderTest, plan: AppPlan) -> Deployment:
    """start -> observe/judge until Promote -> promote -> retire until 0."""
    deployment = begin(sut, plan)
    promote(sut, plan, deployment)
    retire(sut, plan, deployment)
    return deployment


def failure(sut: SchedulerUnderTest, plan: AppPlan, deployment: Deployment) -> Fail:
    outcome = verdict(sut, plan, deployment)
    assert isinstance(outcome, Fail), f"expected the deployment of v{plan.release} to fail, got {outcome}"
    return outcome
