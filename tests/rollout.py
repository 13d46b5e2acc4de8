"""Drive a Scheduler through one rollout the way the deploy service does (start, observe and
judge until Promote, promote, retire until nothing else runs), for tests that exercise a
scheduler adapter without a controller."""

from __future__ import annotations

import secrets
import time

from paas.domain.deployments import Deployment, Fail, GroupState, Promote, judge
from paas.domain.scheduler import AppPlan, Scheduler

from .support.polling import wait_until


def roll_out(scheduler: Scheduler, plan: AppPlan, timeout: float = 40.0) -> str:
    """The id of the deployment, once live with the previous instances gone; AssertionError
    with the failure's explanation if the scheduler reports one."""
    deployment = Deployment(id=secrets.token_hex(6), app=plan.app, release=plan.release, started=time.time(),
                            groups={p.type: GroupState(desired_total=p.quantity, desired_canaries=p.quantity)
                                    for p in plan.processes if p.quantity > 0})
    scheduler.start(plan, deployment.id)

    def verdict() -> Promote | None:
        outcome = judge(deployment, scheduler.observe(plan, deployment.id), plan.update, time.time())
        assert not isinstance(outcome, Fail), "\n".join(outcome.failure.explain())
        return outcome if isinstance(outcome, Promote) else None

    wait_until(verdict, timeout=timeout, interval=0.1, message=f"healthy canaries of {plan.app}")
    scheduler.promote(plan, deployment.id)
    wait_until(lambda: scheduler.retire(plan, keep={deployment.id}) == 0, timeout=timeout, interval=0.2,
               message=f"the previous instances of {plan.app} gone")
    return deployment.id
