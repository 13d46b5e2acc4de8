"""What the contract suite needs from each leg: a Scheduler under test and a Driver.

A leg is a context manager yielding SchedulerUnderTest (conftest.py enters it once per session).
The docker leg lives in tests/contract/docker_driver.py and must provide

    @contextmanager
    def target() -> Iterator[SchedulerUnderTest]: ...

The Driver hides what differs between legs: which image runs, its update timings and how long
the leg may take. What the app does is in the plan, alike on every leg: CONTRACT_UNHEALTHY=1
makes tests/contract/app/server.py answer 500 on /health, CONTRACT_EXIT=N makes it print
EXIT_MARKER lines and exit with N at start (the Nomad double is told to behave the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from paas.domain.scheduler import AppPlan, ProcessPlan, Scheduler, UpdatePolicy

# tests/contract/app/server.py prints this when it starts; doubles are told to print it too.
LOG_MARKER = "contract-app listening"
# ... and this on stderr before it exits on purpose (CONTRACT_EXIT).
EXIT_MARKER = "contract-app exiting on purpose"
RUN_MARKER = "contract-run-marker"
WEB_COMMAND = "python3 /srv/server.py"
WORKER_COMMAND = "python3 /srv/server.py --worker"
HEALTHCHECK = "/health"


class Driver(Protocol):
    name: str
    timeout: float  # the longest the suite waits for one state change on this leg

    def plan(self, app: str, release: int, *, healthy: bool = True, web: int = 1, worker: int = 0,
             restart_token: str | None = None, exit_code: int | None = None) -> AppPlan:
        """A plan of the contract app; healthy=False: its web health check answers 500;
        exit_code: its processes exit with it right after they start."""
        ...


@dataclass
class SchedulerUnderTest:
    name: str
    scheduler: Scheduler
    driver: Driver


def contract_plan(app: str, release: int, image: str, update: UpdatePolicy, *, healthy: bool = True, web: int = 1,
                  worker: int = 0, restart_token: str | None = None, exit_code: int | None = None) -> AppPlan:
    """The one process layout every leg deploys: web (HTTP check on /health) and worker."""
    env = {"CONTRACT_UNHEALTHY": "0" if healthy else "1", "CONTRACT_SECRET": "s3cret-value"}
    if exit_code is not None:
        env["CONTRACT_EXIT"] = str(exit_code)
    return AppPlan(
        app=app, release=release, image=image, env=env,
        processes=[ProcessPlan("web", WEB_COMMAND, web, memory="64M", cpu=0.05, healthcheck=HEALTHCHECK),
                   ProcessPlan("worker", WORKER_COMMAND, worker, memory="64M", cpu=0.05)],
        update=update, restart_token=restart_token,
    )
