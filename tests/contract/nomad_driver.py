"""The nomad legs of the contract suite: the adapter against NomadApiDouble (always), and against
a real Nomad cluster when NOMAD_ADDR is set (docs/nomad.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from paas.config import Settings
from paas.domain.scheduler import AppPlan, UpdatePolicy
from paas.scheduler.nomad import NomadScheduler, job_id
from tests.doubles.nomad_api import NomadApiDouble

from .driver import LOG_MARKER, SchedulerUnderTest, contract_plan

DOUBLE_UPDATE = UpdatePolicy(min_healthy_time=0.1, healthy_deadline=1.0, drain_time=0.0, stop_timeout=1.0)
# A real cluster pulls images and runs real checks (interval 2s): roomier timings.
REAL_UPDATE = UpdatePolicy(min_healthy_time=2.0, healthy_deadline=45.0, drain_time=1.0, stop_timeout=5.0)


class NomadDoubleDriver:
    """Health is whatever the suite says: it sets what the double's Consul checks return."""

    name = "nomad-double"
    timeout = 10.0

    def __init__(self, double: NomadApiDouble):
        self.double = double

    def plan(self, app: str, release: int, *, healthy: bool = True, web: int = 1, worker: int = 0,
             restart_token: str | None = None) -> AppPlan:
        return contract_plan(app, release, f"registry.invalid/{app}:v{release}", DOUBLE_UPDATE, healthy=healthy,
                             web=web, worker=worker, restart_token=restart_token)

    def make_healthy(self, app: str) -> None:
        self.double.set_checks(job_id(app), "passing")

    def make_unhealthy(self, app: str) -> None:
        self.double.set_checks(job_id(app), "critical")


class NomadRealDriver:
    """Health comes from the real checks of the contract app (tests/contract/app)."""

    name = "nomad-real"
    timeout = 180.0

    def __init__(self, image: str):
        self.image = image

    def plan(self, app: str, release: int, *, healthy: bool = True, web: int = 1, worker: int = 0,
             restart_token: str | None = None) -> AppPlan:
        return contract_plan(app, release, self.image, REAL_UPDATE, healthy=healthy, web=web, worker=worker,
                             restart_token=restart_token)

    def make_healthy(self, app: str) -> None:
        pass

    def make_unhealthy(self, app: str) -> None:
        pass


@contextmanager
def double_target() -> Iterator[SchedulerUnderTest]:
    double = NomadApiDouble()
    double.task_output = lambda alloc, task: [f"{LOG_MARKER} ({task['Name']} of {alloc['JobID']}, NomadApiDouble)"]
    with double:
        settings = replace(Settings(), scheduler="nomad", nomad_addr=double.address, nomad_token=None)
        yield SchedulerUnderTest("nomad-double", NomadScheduler(settings), NomadDoubleDriver(double))


@contextmanager
def real_target(image: str) -> Iterator[SchedulerUnderTest]:
    settings = replace(Settings.from_env(), scheduler="nomad")
    yield SchedulerUnderTest("nomad-real", NomadScheduler(settings), NomadRealDriver(image))


def real_leg_skip_reason() -> str | None:
    if not os.environ.get("NOMAD_ADDR"):
        return "NOMAD_ADDR not set: real Nomad leg skipped"
    if not os.environ.get("PAAS_CONTRACT_IMAGE"):
        return ("PAAS_CONTRACT_IMAGE not set: real Nomad leg skipped (build and push tests/contract/app, "
                "see docs/nomad.md)")
    return None
