"""The docker leg of the contract suite: the docker adapter on the real Docker engine and Consul
agent, with its own KV prefix (and so its own platform label; the adapter keeps no state)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import docker

from paas.config import Settings
from paas.domain.scheduler import AppPlan, UpdatePolicy
from paas.router.route_tags import ConsulCatalogTags
from paas.scheduler.docker import DockerScheduler
from paas.store.kv import connect

from .driver import SchedulerUnderTest, contract_plan

APP_DIR = Path(__file__).resolve().parent / "app"
UPDATE = UpdatePolicy(min_healthy_time=0.5, healthy_deadline=8.0, drain_time=0.5, stop_timeout=2.0)


class DockerDriver:
    """The real contract app in real containers: the plan decides its health and exits."""

    name = "docker"
    timeout = 40.0

    def __init__(self, image: str):
        self.image = image

    def plan(self, app: str, release: int, *, healthy: bool = True, web: int = 1, worker: int = 0,
             restart_token: str | None = None, exit_code: int | None = None) -> AppPlan:
        return contract_plan(app, release, self.image, UPDATE, healthy=healthy, web=web, worker=worker,
                             restart_token=restart_token, exit_code=exit_code)


@contextmanager
def target() -> Iterator[SchedulerUnderTest]:
    client = docker.from_env()
    image, _ = client.images.build(path=str(APP_DIR), tag="paas-contract-app:latest", rm=True,
                                   buildargs={"BASE": "paas/stack-run:latest"})
    settings = replace(Settings.from_env(), kv_prefix=f"paas-contract-{uuid.uuid4().hex[:8]}",
                       consul_addr=os.environ.get("CONSUL_HTTP_ADDR", "127.0.0.1:8500"))
    scheduler = DockerScheduler(settings, connect(settings.consul_addr, settings.consul_token),
                                ConsulCatalogTags(settings.platform_domain, settings.https_port), client)
    try:
        yield SchedulerUnderTest("docker", scheduler, DockerDriver("paas-contract-app:latest"))
    finally:
        for app in scheduler.apps():
            scheduler.destroy(app)
