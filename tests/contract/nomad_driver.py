"""The nomad legs of the contract suite: the adapter against NomadApiDouble (always), and against
a real Nomad cluster when NOMAD_ADDR is set (docs/nomad.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from paas.config import Settings
from paas.domain.scheduler import AppPlan, UpdatePolicy
from paas.router.route_tags import ConsulCatalogTags
from paas.scheduler.nomad import NomadScheduler
from tests.doubles.nomad_api import NomadApiDouble, TaskExit

from .driver import EXIT_MARKER, LOG_MARKER, SchedulerUnderTest, contract_plan

# drain_time > 0: retired allocations keep running for their shutdown_delay, as on Nomad.
DOUBLE_UPDATE = UpdatePolicy(min_healthy_time=0.1, healthy_deadline=5.0, drain_time=0.2, stop_timeout=1.0,
                             check_failures=2)
# A real cluster pulls images and runs real checks (interval 2s): roomier timings.
REAL_UPDATE = UpdatePolicy(min_healthy_time=2.0, healthy_deadline=45.0, drain_time=1.0, stop_timeout=5.0)


class NomadDoubleDriver:
    name = "nomad-double"
    timeout = 10.0

    def plan(self, app: str, release: int, *, healthy: bool = True, web: int = 1, worker: int = 0,
             restart_token: str | None = None, exit_code: int | None = None) -> AppPlan:
        return contract_plan(app, release, f"registry.invalid/{app}:v{release}", DOUBLE_UPDATE, healthy=healthy,
                             web=web, worker=worker, restart_token=restart_token, exit_code=exit_code)


class NomadRealDriver:
    name = "nomad-real"
    timeout = 180.0

    def __init__(self, image: str):
        self.image = image

    def plan(self, app: str, release: int, *, healthy: bool = True, web: int = 1, worker: int = 0,
             restart_token: str | None = None, exit_code: int | None = None) -> AppPlan:
        return contract_plan(app, release, self.image, REAL_UPDATE, healthy=healthy, web=web, worker=worker,
                             restart_token=restart_token, exit_code=exit_code)


def contract_app(double: NomadApiDouble) -> NomadApiDouble:
    """Make the double's tasks behave as tests/contract/app/server.py does with the same env."""
    def env(task: dict) -> dict:
        return task.get("Env") or {}

    double.task_output = lambda alloc, task: [f"{LOG_MARKER} ({task['Name']} of {alloc['JobID']}, NomadApiDouble)"]
    double.check_for = lambda alloc, task: "critical" if env(task).get("CONTRACT_UNHEALTHY") == "1" else "passing"
    double.task_exit = lambda alloc, task: (
        TaskExit(int(env(task)["CONTRACT_EXIT"]), [EXIT_MARKER, f"exit code {env(task)['CONTRACT_EXIT']}"])
        if env(task).get("CONTRACT_EXIT") else None)
    return double


@contextmanager
def double_target() -> Iterator[SchedulerUnderTest]:
    with contract_app(NomadApiDouble()) as double:
        settings = replace(Settings(), scheduler="nomad", nomad_addr=double.address, nomad_token=None)
        yield SchedulerUnderTest("nomad-double", NomadScheduler(settings, ConsulCatalogTags(settings.platform_domain, settings.https_port)), NomadDoubleDriver())


@contextmanager
def real_target(image: str) -> Iterator[SchedulerUnderTest]:
    settings = replace(Settings.from_env(), scheduler="nomad")
    yield SchedulerUnderTest("nomad-real", NomadScheduler(settings, ConsulCatalogTags(settings.platform_domain, settings.https_port)), NomadRealDriver(image))


def real_leg_skip_reason() -> str | None:
    if not os.environ.get("NOMAD_ADDR"):
        return "NOMAD_ADDR not set: real Nomad leg skipped"
    if not os.environ.get("PAAS_CONTRACT_IMAGE"):
        return ("PAAS_CONTRACT_IMAGE not set: real Nomad leg skipped (build and push tests/contract/app, "
                "see docs/nomad.md)")
    return None
