"""What the nomad adapter reads from the site's Settings (NomadOptions), with its own defaults so
it works with Settings that predate the Nomad knobs (docs/nomad.md lists the variables)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from paas.domain.errors import ValidationError

CONSTRAINT_OPERATORS = {
    "=", "==", "is", "!=", "not", ">", ">=", "<", "<=", "regexp", "set_contains", "set_contains_all",
    "set_contains_any", "version", "semver", "is_set", "is_not_set", "distinct_hosts", "distinct_property",
}


@dataclass(frozen=True)
class Constraint:
    attribute: str
    operator: str | None = None
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """'ATTRIBUTE OPERATOR VALUE', e.g. '${node.class} = apps' or '${attr.driver.docker} is_set'."""
        parts = text.strip().split(None, 2)
        if len(parts) == 1 or parts[1] not in CONSTRAINT_OPERATORS:
            raise ValidationError(f"Invalid Nomad constraint {text.strip()[:80]!r}: use 'ATTRIBUTE OPERATOR VALUE' "
                                  f"with an operator among {', '.join(sorted(CONSTRAINT_OPERATORS))}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True)
class NomadOptions:
    """Everything the nomad adapter reads from the site's Settings, with its own defaults, so it
    works with Settings that predate the Nomad knobs (see docs/nomad.md for the variables)."""

    addr: str = "http://127.0.0.1:4646"
    token: str | None = None
    namespace: str | None = None
    region: str | None = None
    cacert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False
    timeout: float = 10.0
    datacenters: tuple[str, ...] = ("dc1",)
    node_pool: str | None = None
    constraints: tuple[str, ...] = ()
    default_memory: str = "256M"
    default_cpu: float = 0.1  # cores
    mhz_per_core: int = 1000
    registry: str = "127.0.0.1:5000"
    registry_username: str | None = None
    registry_password: str | None = None
    # Job Meta `platform` (the KV prefix): apps() only reports this platform's jobs.
    platform: str = "paas"
    # Nomad's Consul check of web instances; the adapter's own probe of canaries (observe) and
    # of instances (ps) uses check_timeout too.
    check_interval: float = 2.0
    check_timeout: float = 1.0
    # progress_deadline = healthy_deadline + this: Nomad's own backstop (fail + revert) when no
    # controller is there to fail a deployment whose canaries went unhealthy.
    progress_grace: float = 30.0
    # How long start()/reconcile() wait for Nomad's evaluation of a registration.
    eval_wait: float = 10.0
    # How long a one-off run may take to start (image pull included), and to run (PAAS_RUN_TIMEOUT).
    run_start_timeout: float = 300.0
    run_timeout: float = 3600.0
    # Unprivileged tasks: this user (the controller does not pull images to read their USER),
    # every capability dropped, no-new-privileges, at most this many pids.
    app_user: str = "10001:10001"
    pids_limit: int = 512
    # The group network mode (e.g. "cni/paas-apps"); None: the docker driver's default network.
    network_mode: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> NomadOptions:
        if isinstance(settings, NomadOptions):
            return settings

        def get(name: str, default: Any) -> Any:
            value = getattr(settings, name, None)
            return default if value is None or value == "" else value

        def path(name: str) -> str | None:
            value = getattr(settings, name, None)
            return str(value) if value else None

        return cls(
            addr=str(get("nomad_addr", cls.addr)),
            token=get("nomad_token", None),
            namespace=get("nomad_namespace", None),
            region=get("nomad_region", None),
            cacert=path("nomad_cacert"),
            client_cert=path("nomad_client_cert"),
            client_key=path("nomad_client_key"),
            skip_verify=bool(get("nomad_skip_verify", False)),
            timeout=float(get("nomad_timeout", cls.timeout)),
            datacenters=tuple(get("nomad_datacenters", cls.datacenters)),
            node_pool=get("nomad_node_pool", None),
            constraints=tuple(get("nomad_constraints", ())),
            default_memory=str(get("default_memory", cls.default_memory)),
            default_cpu=float(get("default_cpu", cls.default_cpu)),
            mhz_per_core=int(get("nomad_mhz_per_core", cls.mhz_per_core)),
            registry=str(get("registry", cls.registry)),
            registry_username=get("registry_username", None),
            registry_password=get("registry_password", None),
            platform=str(get("kv_prefix", cls.platform)),
            run_timeout=float(get("run_timeout", cls.run_timeout)),
            app_user=str(get("app_user", cls.app_user)),
            pids_limit=int(get("pids_limit", cls.pids_limit)),
            network_mode=get("nomad_network_mode", None),
        )

    @property
    def base_url(self) -> str:
        """NOMAD_ADDR without any credentials, for messages."""
        parts = urlsplit(self.addr if "://" in self.addr else f"http://{self.addr}")
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
