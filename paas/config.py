"""Every setting, path and address of the platform, read from the environment in one place.

HashiCorp's own variables (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, NOMAD_ADDR, NOMAD_TOKEN)
keep their names; everything else is a PAAS_* variable. The README lists them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
# The SSH gateway authenticates with the gateway token and names the pushing user in this header.
ACT_AS_HEADER = "X-Paas-Act-As"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
# Every Docker bridge the platform creates is named with one of these prefixes (Linux allows 15
# characters: prefix + 12 hex of a hash), so the host firewall (scripts/services.sh) can drop new
# connections from tenants' containers to the host with one rule per prefix.
APP_BRIDGE_PREFIX = "pa-"    # one bridge network per app: its containers and nothing else
BUILD_BRIDGE_PREFIX = "pb-"  # the build network: buildpack containers and Dockerfile RUN steps


def _ca_bundle(setting: str) -> Path | None:
    """PAAS_CA_BUNDLE=path|none; by default the host bundle when the host trusts extra local CAs."""
    if setting.lower() == "none":
        return None
    if setting:
        return Path(setting)
    has_local_cas = LOCAL_CA_DIR.is_dir() and any(LOCAL_CA_DIR.rglob("*.crt"))
    return HOST_CA_BUNDLE if has_local_cas and HOST_CA_BUNDLE.is_file() else None


def _secret(name: str) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (keeps it out of process listings)."""
    value = os.environ.get(name, "").strip()
    path = os.environ.get(f"{name}_FILE", "").strip()
    if not value and path and Path(path).is_file():
        value = Path(path).read_text().strip()
    return value or None


def _path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else None


def _list(name: str, separator: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in os.environ.get(name, "").split(separator) if part.strip())


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    consul_addr: str = "127.0.0.1:8500"
    consul_token: str | None = None
    kv_prefix: str = "paas"
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 8
    git_host: str = "127.0.0.1"
    ssh_port: int = 2222
    platform_domain: str = "paas.test"
    nomad_addr: str | None = None
    nomad_token: str | None = None
    # Nomad (PAAS_SCHEDULER=nomad, docs/nomad.md): HashiCorp's TLS/namespace variables, then the
    # site knobs of the rendered jobs (jobspecs/).
    nomad_namespace: str | None = None
    nomad_region: str | None = None
    nomad_cacert: Path | None = None
    nomad_client_cert: Path | None = None
    nomad_client_key: Path | None = None
    nomad_skip_verify: bool = False
    nomad_datacenters: tuple[str, ...] = ("dc1",)
    nomad_node_pool: str | None = None
    nomad_constraints: tuple[str, ...] = ()  # "ATTRIBUTE OPERATOR VALUE" each
    nomad_mhz_per_core: int = 1000
    default_memory: str = "256M"
    default_cpu: float = 0.1
    # Docker scheduler: `cpu` (a type's limit, else default_cpu) is an instance's share when the
    # host is busy (cpu_shares, as Nomad's docker driver does with its MHz); alone it may burst up
    # to this many cores (a hard quota). A hard 0.1-core quota made gunicorn boot in 3.2 s
    # instead of 0.4 s, and canaries wait for that boot.
    cpu_burst: float = 1.0
    # The unprivileged user app, one-off and build containers run as when the image names no
    # non-root user of its own (uid:gid; never 0).
    app_user: str = "10001:10001"
    # App and one-off containers: at most this many processes/threads each (a fork bomb stops here).
    pids_limit: int = 512
    # A one-off run (`paas run`) is killed and removed after this many seconds.
    run_timeout: float = 3600.0
    # Nomad: the group network mode of every app job (e.g. "cni/paas-apps"); unset: the docker
    # driver's default network. docs/nomad.md says what isolates apps on a cluster.
    nomad_network_mode: str | None = None
    registry_username: str | None = None
    registry_password: str | None = None
    scheduler: str = "docker"
    data_dir: Path = field(default_factory=lambda: Path.home() / ".paas-data")
    docker_host: str | None = None
    registry: str = "127.0.0.1:5000"
    build_stack: str = "paas/stack-build:latest"
    run_stack: str = "paas/stack-run:latest"
    build_timeout: float = 15 * 60
    build_memory: str = "2g"
    build_cpus: float = 2.0
    # The host's CA bundle, copied into build containers (never into images) so HTTPS to the
    # package registries works behind a TLS-intercepting proxy. None: do not copy.
    ca_bundle: Path | None = None
    buildpacks_dir: Path = REPO_DIR / "buildpacks"
    # Host directories a build may name as a buildpack (.buildpacks, BUILDPACK_URL): only these.
    buildpack_dirs: tuple[Path, ...] = ()
    build_pids: int = 1024
    # Source archives (tar uploads): extracted bytes, entries, extracted/compressed ratio.
    max_source_bytes: int = 512 * 1024 * 1024
    max_source_entries: int = 100_000
    max_source_ratio: float = 100.0
    # Builds of an app kept as local images after a successful build (older ones are removed).
    keep_images: int = 5
    # The SSH gateway authenticates to the controller with this shared secret and acts as a user.
    gateway_token: str | None = None
    controller_url: str = "http://127.0.0.1:8000"
    git_dir: Path = Path("/var/lib/paas/git")
    git_user: str = "git"
    # The forced command sshd runs for every key (a root-owned wrapper, see scripts/gateway.sh).
    git_shell: Path = Path("/usr/local/lib/paas/git-shell")
    # The router (Traefik): where apps are served, and its file-provider directory.
    http_port: int = 8080
    https_port: int = 8443
    router_dir: Path = REPO_DIR / ".run" / "router"
    # Traefik's API (host:port of its `traefik` entrypoint, read-only use): when a deployment's
    # new instances take requests. Empty: the platform does not ask (drains from promotion).
    router_api: str = ""
    # Publish paas.<PAAS_DOMAIN> -> this controller at start (off for test controllers).
    controller_route: bool = True
    # API input limits: JSON request bodies, and source uploads (builds), in bytes.
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 200 * 1024 * 1024
    # The largest git push the SSH gateway accepts (git's receive.maxInputSize in every repo).
    max_push_bytes: int = 200 * 1024 * 1024
    # API tokens: lifetime in seconds, and how many one user keeps (the oldest go first).
    token_ttl: int = 30 * 24 * 3600
    max_tokens_per_user: int = 20
    # Failed logins allowed per username, and per client address, in login_window seconds.
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_window: int = 60
    # The per-app log history (paas/logstore): lines kept per app, and their age in seconds.
    log_max_lines: int = 20_000
    log_max_age: float = 7 * 24 * 3600.0
    # Networks (CIDRs) a log drain may send to besides public addresses (a site's own log host).
    drain_allow_networks: tuple[str, ...] = ()
    # The CA bundle https drains are verified against (a site's log host with a private CA);
    # None: the system's CAs.
    drain_ca_bundle: Path | None = None
    # Traefik's JSON access log (its static config's accessLog.filePath): the log collector
    # turns it into router lines. None: no router lines.
    router_access_log: Path | None = None
    # Past this size the collector renames the access log to <log>.1 and has Traefik reopen it
    # (SIGUSR1 to the pid in router_pid_file); without a pid file the log is not rotated.
    router_access_log_max_bytes: int = 64 * 1024 * 1024
    router_pid_file: Path | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            consul_addr=_env("CONSUL_HTTP_ADDR", cls.consul_addr),
            consul_token=_secret("CONSUL_HTTP_TOKEN"),  # or CONSUL_HTTP_TOKEN_FILE (HashiCorp's name)
            kv_prefix=_env("PAAS_KV_PREFIX", cls.kv_prefix).strip("/"),
            bind=_env("PAAS_BIND", cls.bind),
            workers=int(_env("PAAS_WORKERS", str(cls.workers))),
            threads=int(_env("PAAS_THREADS", str(cls.threads))),
            git_host=_env("PAAS_GIT_HOST", cls.git_host),
            ssh_port=int(_env("PAAS_SSH_PORT", str(cls.ssh_port))),
            platform_domain=_env("PAAS_DOMAIN", cls.platform_domain),
            nomad_addr=os.environ.get("NOMAD_ADDR") or None,
            nomad_token=_secret("NOMAD_TOKEN"),
            nomad_namespace=os.environ.get("NOMAD_NAMESPACE") or None,
            nomad_region=os.environ.get("NOMAD_REGION") or None,
            nomad_cacert=_path("NOMAD_CACERT"),
            nomad_client_cert=_path("NOMAD_CLIENT_CERT"),
            nomad_client_key=_path("NOMAD_CLIENT_KEY"),
            nomad_skip_verify=_env("NOMAD_SKIP_VERIFY", "false").lower() in ("1", "true", "yes"),
            nomad_datacenters=_list("PAAS_NOMAD_DATACENTERS", ",") or cls.nomad_datacenters,
            nomad_node_pool=os.environ.get("PAAS_NOMAD_NODE_POOL") or None,
            nomad_constraints=_list("PAAS_NOMAD_CONSTRAINTS", ";"),
            nomad_mhz_per_core=int(_env("PAAS_NOMAD_MHZ_PER_CORE", str(cls.nomad_mhz_per_core))),
            default_memory=_env("PAAS_DEFAULT_MEMORY", cls.default_memory),
            default_cpu=float(_env("PAAS_DEFAULT_CPU", str(cls.default_cpu))),
            cpu_burst=float(_env("PAAS_CPU_BURST", str(cls.cpu_burst))),
            app_user=_env("PAAS_APP_USER", cls.app_user),
            pids_limit=int(_env("PAAS_PIDS_LIMIT", str(cls.pids_limit))),
            run_timeout=float(_env("PAAS_RUN_TIMEOUT", str(cls.run_timeout))),
            nomad_network_mode=os.environ.get("PAAS_NOMAD_NETWORK_MODE") or None,
            registry_username=os.environ.get("PAAS_REGISTRY_USERNAME") or None,
            registry_password=_secret("PAAS_REGISTRY_PASSWORD"),
            scheduler=_env("PAAS_SCHEDULER", cls.scheduler),
            data_dir=Path(_env("PAAS_DATA_DIR", str(Path.home() / ".paas-data"))),
            docker_host=os.environ.get("DOCKER_HOST") or None,
            registry=_env("PAAS_REGISTRY", cls.registry),
            build_stack=_env("PAAS_BUILD_STACK", cls.build_stack),
            run_stack=_env("PAAS_RUN_STACK", cls.run_stack),
            build_timeout=float(_env("PAAS_BUILD_TIMEOUT", str(cls.build_timeout))),
            build_memory=_env("PAAS_BUILD_MEMORY", cls.build_memory),
            build_cpus=float(_env("PAAS_BUILD_CPUS", str(cls.build_cpus))),
            ca_bundle=_ca_bundle(os.environ.get("PAAS_CA_BUNDLE", "")),
            buildpacks_dir=Path(_env("PAAS_BUILDPACKS_DIR", str(cls.buildpacks_dir))),
            buildpack_dirs=tuple(Path(p) for p in _list("PAAS_BUILDPACK_DIRS", ":") if Path(p).is_absolute()),
            build_pids=int(_env("PAAS_BUILD_PIDS", str(cls.build_pids))),
            max_source_bytes=int(_env("PAAS_MAX_SOURCE_BYTES", str(cls.max_source_bytes))),
            max_source_entries=int(_env("PAAS_MAX_SOURCE_ENTRIES", str(cls.max_source_entries))),
            max_source_ratio=float(_env("PAAS_MAX_SOURCE_RATIO", str(cls.max_source_ratio))),
            keep_images=int(_env("PAAS_KEEP_IMAGES", str(cls.keep_images))),
            gateway_token=_secret("PAAS_GATEWAY_TOKEN"),
            controller_url=_env("PAAS_URL", cls.controller_url).rstrip("/"),
            git_dir=Path(_env("PAAS_GIT_DIR", str(cls.git_dir))),
            git_user=_env("PAAS_GIT_USER", cls.git_user),
            git_shell=Path(_env("PAAS_GIT_SHELL", str(cls.git_shell))),
            http_port=int(_env("PAAS_HTTP_PORT", str(cls.http_port))),
            https_port=int(_env("PAAS_HTTPS_PORT", str(cls.https_port))),
            router_dir=Path(_env("PAAS_ROUTER_DIR", str(cls.router_dir))),
            router_api=_env("PAAS_ROUTER_API", cls.router_api),
            controller_route=_env("PAAS_CONTROLLER_ROUTE", "1") != "0",
            max_body_bytes=int(_env("PAAS_MAX_BODY_BYTES", str(cls.max_body_bytes))),
            max_upload_bytes=int(_env("PAAS_MAX_UPLOAD_BYTES", str(cls.max_upload_bytes))),
            max_push_bytes=int(_env("PAAS_MAX_PUSH_BYTES", str(cls.max_push_bytes))),
            token_ttl=int(_env("PAAS_TOKEN_TTL", str(cls.token_ttl))),
            max_tokens_per_user=int(_env("PAAS_MAX_TOKENS_PER_USER", str(cls.max_tokens_per_user))),
            login_max_failures=int(_env("PAAS_LOGIN_MAX_FAILURES", str(cls.login_max_failures))),
            login_max_failures_per_address=int(
                _env("PAAS_LOGIN_MAX_FAILURES_PER_ADDRESS", str(cls.login_max_failures_per_address))),
            login_window=int(_env("PAAS_LOGIN_WINDOW", str(cls.login_window))),
            log_max_lines=int(_env("PAAS_LOG_MAX_LINES", str(cls.log_max_lines))),
            log_max_age=float(_env("PAAS_LOG_MAX_AGE", str(cls.log_max_age))),
            drain_allow_networks=_list("PAAS_DRAIN_ALLOW_NETWORKS", ","),
            drain_ca_bundle=Path(bundle) if (bundle := os.environ.get("PAAS_DRAIN_CA_BUNDLE")) else None,
            router_access_log=_path("PAAS_ROUTER_ACCESS_LOG"),
            router_access_log_max_bytes=int(_env("PAAS_ROUTER_ACCESS_LOG_MAX_BYTES",
                                                 str(cls.router_access_log_max_bytes))),
            router_pid_file=_path("PAAS_ROUTER_PID_FILE"),
        )

    @property
    def controller_upstream(self) -> str:
        """The URL the router on this host reaches this controller at (its route, the router
        pages): the bind address, with a wildcard bind reached on loopback."""
        host, _, port = self.bind.rpartition(":")
        if host in ("0.0.0.0", "", "::", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def app_url(self, app: str, tls: bool = False) -> str:
        """Where users reach the app through the router (the port left out when it is the default)."""
        scheme, port, default = ("https", self.https_port, 443) if tls else ("http", self.http_port, 80)
        return f"{scheme}://{app}.{self.platform_domain}{'' if port == default else f':{port}'}/"

    @property
    def log_history_path(self) -> Path:
        return self.data_dir / "log-history" / "lines.sqlite3"

    def git_url(self, app: str) -> str:
        """The git remote users push to (the SSH gateway)."""
        return f"ssh://git@{self.git_host}:{self.ssh_port}/{app}.git"
