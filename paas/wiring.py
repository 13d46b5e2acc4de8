"""The one place that picks concrete adapters and assembles the services."""

from __future__ import annotations

from dataclasses import dataclass

from .builder.docker_builder import DockerImageBuilder
from .builder.logs import FileBuildLogStore
from .config import Settings
from .services.apps import AppService
from .services.auth import AuthService
from .services.builds import BuildService
from .services.config import ConfigService
from .services.domains import DomainService
from .services.formation import FormationService
from .services.keys import KeyService
from .services.releases import ReleaseService
from .store.apps import ConsulAppStore
from .store.builds import ConsulBuildStore
from .store.formation import ConsulFormationStore
from .store.keys import ConsulKeyStore
from .store.kv import ConsulKV, connect
from .store.releases import ConsulReleaseStore
from .store.users import ConsulTokenStore, ConsulUserStore


@dataclass
class Services:
    settings: Settings
    kv: ConsulKV
    auth: AuthService
    keys: KeyService
    apps: AppService
    releases: ReleaseService
    config: ConfigService
    builds: BuildService
    formation: FormationService
    domains: DomainService


def build_services(settings: Settings) -> Services:
    kv = ConsulKV(connect(settings.consul_addr, settings.consul_token), settings.kv_prefix)
    app_store = ConsulAppStore(kv)
    apps = AppService(app_store)
    releases = ReleaseService(ConsulReleaseStore(kv))
    formation = FormationService(ConsulFormationStore(kv), releases)
    return Services(
        settings=settings,
        kv=kv,
        auth=AuthService(ConsulUserStore(kv), ConsulTokenStore(kv)),
        keys=KeyService(ConsulKeyStore(kv)),
        apps=apps,
        releases=releases,
        config=ConfigService(releases),
        builds=BuildService(
            ConsulBuildStore(kv),
            releases,
            formation,
            builder=DockerImageBuilder(settings),
            logs=FileBuildLogStore(settings.data_dir / "logs"),
        ),
        formation=formation,
        domains=DomainService(app_store, apps, settings.platform_domain),
    )
