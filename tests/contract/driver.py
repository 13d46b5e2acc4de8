"""What the contract suite needs from each leg: a Scheduler under test and a Driver.

A leg is a context manager yielding SchedulerUnderTest (conftest.py enters it once per session).
The docker leg lives in tests/contract/docker_driver.py and must provide

    @contextmanager
    def target() -> Iterator[SchedulerUnderTest]: ...

The Driver hides what only a test can control: which image runs, how long the leg may take, and
health. Against a double, make_healthy/make_unhealthy decide what the health checks return; on
real infrastructure they do nothing and the plan decides (healthy=False sets
CONTRACT_UNHEALTHY=1, which makes tests/contract/app/server.py answer 500 on /health).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from paas.domain.scheduler import AppPlan, ProcessPlan, Scheduler, UpdatePolicy

# tests/contract/app/server.py prints this when it starts; doubles are told to print it too.
LOG_MARKER = "contract-app listening"
RUN_MARKER = "contract-run-marker"
WEB_COMMAND = "python3 /srv/server.py"
WORKER_COMMAND = "python3 /srv/server.py --worker"
HEALTHCHECK = "/health"

T = TypeVar("T")


class Driver(Protocol):
    name: str
    timeout: float  # the longest the suite waits for one state change on this leg

    def plan(self, app: str, release: int, *, healthy: bool = True, web: int = 1, worker: int = 0,
             restart_token: str | None = None) -> AppPlan:
        """A plan of the contract app; healthy=False: its web health check fails."""
        ...

    def make_healthy(self, app: str) -> None:
        """The instances of the app's newest version pass their health checks from now on."""
        ...

    def make_unhealthy(self, app: str) -> None:
        """The instances of the app's newest version fail their health checks from now on."""
        ...


@dataclass
class SchedulerUnderTest:
    name: str
    scheduler: Scheduler
    driver: Driver


def contract_plan(app: str, release: int, image: str, update: UpdatePolicy, *, healthy: bool = True, web: int = 1,
                  worker: int = 0, restart_token: str | None = None) -> AppPlan:
    """The one process layout every leg deploys: web (HTTP check on /health) and worker."""
    return AppPlan(
        app=app, release=release, image=image,
        env={"CONTRACT_UNHEALTHY": "0" if healthy else "1", "CONTRACT_SECRET": "s3cret-value"},
        processes=[ProcessPlan("web", WEB_COMMAND, web, memory="64M", cpu=0.05, healthcheck=HEALTHCHECK),
                   ProcessPlan("worker", WORKER_COMMAND, worker, memory="64M", cpu=0.05)],
        update=update, restart_token=restart_token,
    )


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.05) -> T:
    """Poll probe() until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
