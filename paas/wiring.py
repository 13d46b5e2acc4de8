"""The one place that picks concrete adapters and assembles the services."""

from __future__ import annotations

from dataclasses import dataclass, field

from .builder.docker_builder import DockerImageBuilder
from .builder.logs import FileBuildLogStore
from .config import Settings
from .domain.logs import DrainPolicy
from .domain.scheduler import Scheduler
from .gateway.repos import LocalGitRepos
from .logstore.drains import DrainForwarder
from .logstore.lock import FileHostLock
from .logstore.sqlite import SqliteLogStore
from .router.access_log import FileAccessLog, TraefikReopen
from .router.maintenance import FileMaintenanceRouter
from .router.publisher import FileCertPublisher
from .router.route_tags import ConsulCatalogTags
from .router.traefik_api import TraefikApi
from .services.apps import AppService
from .services.auth import AuthService, LoginLimits, LoginThrottle, TokenPolicy
from .services.builds import BuildService
from .services.config import ConfigService
from .services.deploys import DeployService
from .services.domains import DomainService
from .services.drains import DrainService
from .services.formation import FormationService
from .services.keys import KeyService
from .services.log_collector import LogCollector
from .services.logs import LogService
from .services.maintenance import MaintenanceService
from .services.pushes import PushService
from .services.releases import ReleaseService
from .services.router_pages import RouterPageService
from .services.supervisor import Supervisor
from .services.tls import TlsService
from .store.apps import ConsulAppStore
from .store.builds import ConsulBuildStore
from .store.certs import ConsulCertStore
from .store.deploys import ConsulDeployStateStore
from .store.drains import ConsulDrainStore
from .store.formation import ConsulFormationStore
from .store.keys import ConsulKeyStore
from .store.kv import ConsulKV, connect
from .store.locks import ConsulAppLocks
from .store.releases import ConsulReleaseStore
from .store.users import ConsulFailureCounter, ConsulTokenStore, ConsulUserStore


def route_tags(settings: Settings) -> ConsulCatalogTags:
    return ConsulCatalogTags(settings.platform_domain, settings.https_port)


def build_scheduler(settings: Settings) -> Scheduler:
    if settings.scheduler == "docker":
        from .scheduler.docker import DockerScheduler

        return DockerScheduler(settings, connect(settings.consul_addr, settings.consul_token), route_tags(settings))
    if settings.scheduler == "nomad":
        from .scheduler.nomad import NomadScheduler

        return NomadScheduler(settings, route_tags(settings))
    raise ValueError(f"PAAS_SCHEDULER must be docker or nomad, not {settings.scheduler!r}")


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
    deploys: DeployService
    app_store: ConsulAppStore
    tls: TlsService
    logs: LogService
    drains: DrainService
    maintenance: MaintenanceService
    router_pages: RouterPageService
    pushes: PushService = field(init=False)

    def __post_init__(self) -> None:
        # The push use case needs no adapter of its own: it drives the services above.
        self.pushes = PushService(self.builds, self.deploys, self.formation, self.apps, self.auth, self.keys,
                                  self.settings.data_dir / "uploads", self.settings.max_upload_bytes)

    def log_collector(self) -> LogCollector | None:
        """The host's log collector (docker scheduler only: on Nomad the output stays with the
        allocations, docs/design.md "Log history"); started by each controller worker, and
        only the one holding the host lock collects."""
        if self.settings.scheduler != "docker":
            return None
        from .scheduler.docker import DockerScheduler
        from .scheduler.docker_logs import DockerContainerOutput

        scheduler = self.deploys.scheduler
        assert isinstance(scheduler, DockerScheduler)
        directory = self.settings.log_history_path.parent
        access_log = None
        if self.settings.router_access_log is not None:
            reopen = TraefikReopen(self.settings.router_pid_file) if self.settings.router_pid_file else None
            access_log = FileAccessLog(self.settings.router_access_log, directory / "router-position.json",
                                       self.settings.router_access_log_max_bytes, reopen)
        ca = self.settings.drain_ca_bundle
        forwarder = DrainForwarder(self.drains.of, drain_policy(self.settings), ca_certs=str(ca) if ca else None)
        collector = LogCollector(DockerContainerOutput(self.settings.kv_prefix, lambda: scheduler.client),
                                 self.logs.store, FileHostLock(directory / "collector.lock"), access_log=access_log,
                                 forward=forwarder.forward)
        # Every worker's runs keep their own output (a run of a moment can be gone before the
        # collecting worker reads it); only lines the history lacks are stored and drained.
        scheduler.before_removing_run = collector.keep_run_output
        return collector

    def supervisor(self, owner: str) -> Supervisor:
        """The background deployer for one controller process (see services/supervisor.py)."""
        return Supervisor(self.deploys, self.app_store, ConsulAppLocks(self.kv, owner), self.kv,
                          finish_destroys=self.apps.finish_pending_destroys)


def drain_policy(settings: Settings) -> DrainPolicy:
    """Drains go to public addresses, or to the operator's PAAS_DRAIN_ALLOW_NETWORKS, but never
    to a port of the platform's own services (Consul, registry, controller, router, SSH)."""
    ports = {settings.ssh_port, settings.http_port, settings.https_port}
    for address in (settings.consul_addr, settings.registry, settings.bind, settings.router_api):
        port = address.rsplit(":", 1)[-1].strip("/") if ":" in address else ""
        if port.isdigit():
            ports.add(int(port))
    return DrainPolicy(allowed_networks=settings.drain_allow_networks, forbidden_ports=frozenset(ports))


def build_services(settings: Settings) -> Services:
    kv = ConsulKV(connect(settings.consul_addr, settings.consul_token), settings.kv_prefix)
    app_store = ConsulAppStore(kv)
    release_store = ConsulReleaseStore(kv)
    deploy_states = ConsulDeployStateStore(kv)
    build_store = ConsulBuildStore(kv)
    formation_store = ConsulFormationStore(kv)
    releases = ReleaseService(release_store, deploy_states, build_store, formation_store)
    formation = FormationService(formation_store, releases, build_store)
    log_store = SqliteLogStore(settings.log_history_path, settings.log_max_lines, settings.log_max_age)
    logs = LogService(log_store)
    scheduler = build_scheduler(settings)
    deploys = DeployService(scheduler, app_store, release_store, formation_store, deploy_states,
                            builds=build_store, router=TraefikApi(settings.router_api) if settings.router_api else None,
                            log_history=logs)
    builder = DockerImageBuilder(settings)
    cert_publisher = FileCertPublisher(settings.router_dir, settings.kv_prefix)
    maintenance_router = FileMaintenanceRouter(settings.router_dir, [settings.controller_upstream], settings.kv_prefix)
    # apps:destroy removes, in order: instances and network, the router's certificate, the
    # builder's cache, logs, images and registry manifests, the log history, the maintenance
    # route; and the git repo where it is local.
    drain_store = ConsulDrainStore(kv)
    apps = AppService(app_store, (deploys.destroy, cert_publisher.withdraw, builder.remove_app, logs.remove_app,
                                  drain_store.remove_app, maintenance_router.restore),
                      repos=LocalGitRepos(settings.git_dir).remove_app)
    maintenance = MaintenanceService(app_store, apps, maintenance_router, settings.platform_domain)
    return Services(
        settings=settings,
        kv=kv,
        auth=AuthService(
            ConsulUserStore(kv),
            ConsulTokenStore(kv),
            LoginThrottle(ConsulFailureCounter(kv, "login-user"), ConsulFailureCounter(kv, "login-address"),
                          LoginLimits(settings.login_max_failures, settings.login_max_failures_per_address,
                                      settings.login_window)),
            TokenPolicy(settings.token_ttl, settings.max_tokens_per_user),
        ),
        keys=KeyService(ConsulKeyStore(kv)),
        apps=apps,
        releases=releases,
        config=ConfigService(releases),
        builds=BuildService(
            build_store,
            releases,
            formation,
            builder=builder,
            logs=FileBuildLogStore(settings.data_dir / "logs"),
            registry=settings.registry,
            apps=apps,
            # The docker scheduler starts containers from this host's images: a push deploys
            # while its image goes to the registry; Nomad's clients pull, so the registry is first.
            run_local_images=settings.scheduler == "docker",
        ),
        formation=formation,
        domains=DomainService(app_store, apps, settings.platform_domain, ConsulCertStore(kv),
                              on_change=maintenance.refresh),
        deploys=deploys,
        app_store=app_store,
        tls=TlsService(app_store, apps, ConsulCertStore(kv), cert_publisher, settings.platform_domain),
        logs=logs,
        drains=DrainService(drain_store, apps, drain_policy(settings)),
        maintenance=maintenance,
        router_pages=RouterPageService(app_store, deploy_states, formation_store, settings.platform_domain),
    )
