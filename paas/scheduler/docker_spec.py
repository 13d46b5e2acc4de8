"""What the docker scheduler asks Docker for, as pure functions (no I/O): the per-app network and
the kwargs of containers.run/create for app instances and one-off runs. Kept apart from running
them, as Kamal's commands/* are, so every isolation setting is unit-tested without Docker.

Every app and one-off container:
- joins its app's own bridge network and no other (`network_spec`): Docker drops traffic between
  bridges, so one app cannot connect to another app's containers; the host's firewall drops new
  connections from the `pa-*` bridges to the host (scripts/services.sh), while the host's Consul
  checks and Traefik still reach the containers on their network addresses;
- runs as a non-root user (`run_user`), with every capability dropped, `no-new-privileges`, a
  pids limit, and memory and CPU limits (the process type's, else the platform's defaults).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from paas.config import APP_BRIDGE_PREFIX
from paas.domain import names
from paas.domain.errors import ValidationError
from paas.domain.scheduler import CONTAINER_PORT, AppPlan, ProcessPlan

LABEL = "paas"
BRIDGE_OPTION = "com.docker.network.bridge.name"
ROOT_NAMES = {"0", "root"}
# Live instances restart when they fail (Docker backs off between restarts); canaries never do:
# a canary that exits stays exited, with its exit code and output, for the deploy to report.
LIVE_RESTART_POLICY = {"Name": "on-failure", "MaximumRetryCount": 0}
CANARY_RESTART_POLICY = {"Name": "no"}


@dataclass(frozen=True)
class Limits:
    """The platform-wide defaults and bounds every container gets (from Settings)."""

    user: str = "10001:10001"
    memory: str = "256M"
    cpu: float = 0.1  # cores: the share under contention
    cpu_burst: float = 1.0  # cores: the hard cap (never below cpu)
    pids: int = 512


# ---------------------------------------------------------------------------------- networks
def bridge_name(platform: str, app: str) -> str:
    """The Linux bridge of that network: the prefix the host firewall matches plus 12 hex of a hash
    of platform and app (interface names are limited to 15 characters)."""
    return APP_BRIDGE_PREFIX + hashlib.sha256(f"{platform}/{app}".encode()).hexdigest()[:12]


def network_spec(platform: str, app: str) -> dict:
    """kwargs of client.networks.create for the app's network."""
    return {
        "name": names.app_network(platform, app),
        "driver": "bridge",
        "options": {BRIDGE_OPTION: bridge_name(platform, app)},
        "labels": {f"{LABEL}.platform": platform, f"{LABEL}.app": app, f"{LABEL}.role": "network"},
        "check_duplicate": True,
    }


def winner(network_ids: list[str]) -> str:
    """Two controller workers may create the app's network at once (Docker 20.10 does not keep
    names unique under concurrency): every one keeps the same one, the smallest id."""
    return min(network_ids)


# ---------------------------------------------------------------------------------- users
def _id_map(text: str) -> dict[str, int]:
    """name -> id of an /etc/passwd or /etc/group file (the id is the third field of both)."""
    ids: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            ids.setdefault(fields[0], int(fields[2]))
    return ids


def _resolve(part: str, names: dict[str, int]) -> int | None:
    """A numeric id, or a name resolved through the image's own file (None: unknown)."""
    return int(part) if part.isdigit() else names.get(part)


def run_user(image_user: str | None, default: str, passwd: str = "", group: str = "") -> str:
    """The user a container runs as: the image's USER when it names a non-root user (and group),
    else `default` (PAAS_APP_USER). Names are resolved through the image's own /etc/passwd and
    /etc/group, so `USER toor` with uid 0 in passwd falls back to the default too."""
    if not default or default.split(":")[0] in ROOT_NAMES:
        raise ValidationError("PAAS_APP_USER must name a non-root uid[:gid]")
    if not image_user:
        return default
    user, _, grp = image_user.partition(":")
    uid = _resolve(user, _id_map(passwd))
    if uid is None or uid == 0:
        return default
    if grp:
        gid = _resolve(grp, _id_map(group))
        if gid is None or gid == 0:
            return default
    return image_user


# ---------------------------------------------------------------------------------- containers
def docker_memory(memory: str | None) -> str | None:
    """"512M" (the platform's notation) -> "512m" (Docker's)."""
    return memory.lower().removesuffix("b") if memory else None


def command_kwargs(launcher: bool, command: str) -> dict:
    """Buildpack images (label paas.launcher) run commands through their launcher (.profile.d,
    $PORT); other images run a Procfile command through /bin/sh, or their own CMD without one."""
    if not command:
        return {}
    if launcher:
        return {"command": [command]}
    return {"entrypoint": ["/bin/sh", "-c"], "command": [command]}


def hardening(user: str, memory: str | None, cpu: float | None, limits: Limits) -> dict:
    """The unprivileged part of every container: user, capabilities, privileges, limits."""
    mem = docker_memory(memory or limits.memory)
    return {
        "user": user,
        # Apps listen on $PORT (5000): no capability is needed, not even NET_BIND_SERVICE.
        "cap_drop": ["ALL"],
        # setuid binaries (su, sudo, ping) cannot raise privileges.
        "security_opt": ["no-new-privileges"],
        "pids_limit": limits.pids,
        "mem_limit": mem,
        "memswap_limit": mem,  # no swap beyond the limit either
        # A share, not a quota: under contention instances split the CPU by their `cpu`
        # (1024 = one core), and an idle host lets one boot at full speed up to the burst cap.
        "cpu_shares": max(2, round((cpu or limits.cpu) * 1024)),
        "nano_cpus": int(max(cpu or limits.cpu, limits.cpu_burst) * 1e9),
    }


def base_env(plan: AppPlan, process_type: str) -> dict[str, str]:
    return {**plan.env, "PORT": str(CONTAINER_PORT), "PAAS_APP": plan.app,
            "PAAS_RELEASE": f"v{plan.release}", "PAAS_PROCESS_TYPE": process_type}


def instance_spec(plan: AppPlan, process: ProcessPlan, *, platform: str, name: str, deployment_id: str,
                  host_port: int | None, network: str, user: str, launcher: bool, limits: Limits,
                  restart: bool = True) -> dict:
    """kwargs of client.containers.run for one instance of a process type; restart=False for a
    canary (see CANARY_RESTART_POLICY)."""
    labels = {f"{LABEL}.app": plan.app, f"{LABEL}.role": "instance", f"{LABEL}.platform": platform,
              f"{LABEL}.release": str(plan.release), f"{LABEL}.type": process.type,
              f"{LABEL}.deployment": deployment_id, f"{LABEL}.port": str(host_port or ""),
              f"{LABEL}.restart-token": plan.restart_token or ""}
    return {
        "image": plan.image, "name": name, "detach": True, "environment": base_env(plan, process.type),
        "labels": labels, "network": network,
        # Published on loopback only, for `paas ps` and operators; routers and checks use the
        # container's address on its app network.
        "ports": {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", host_port)} if host_port else {},
        "restart_policy": dict(LIVE_RESTART_POLICY if restart else CANARY_RESTART_POLICY),
        "stop_signal": "SIGTERM",
        "log_config": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}},
        **hardening(user, process.memory, process.cpu, limits),
        **command_kwargs(launcher, process.command),
    }


def run_spec(plan: AppPlan, command: str, *, platform: str, name: str, network: str, user: str,
             launcher: bool, limits: Limits, deadline: float, stdin: bool = False, tty: bool = False) -> dict:
    """kwargs of client.containers.create for a one-off run: the web type's limits (else the
    defaults), on the app's network, never restarted. The deadline (epoch seconds) is a label
    so that any controller can remove a run whose own controller died. With `stdin` the
    container's stdin is open until its one attached client closes it (`docker run -i`); with
    `tty` it also has a terminal (`-t`). Isolation is the same either way: a terminal is only
    a pty inside the container."""
    web = plan.process("web")
    # type=run: its log lines' source is run.<id>, as an instance's is web.<id>.
    labels = {f"{LABEL}.app": plan.app, f"{LABEL}.role": "run", f"{LABEL}.platform": platform,
              f"{LABEL}.release": str(plan.release), f"{LABEL}.type": "run",
              f"{LABEL}.deadline": f"{deadline:.0f}"}
    return {
        "image": plan.image, "name": name, "environment": base_env(plan, "run"), "labels": labels,
        "network": network,
        # docker-py sets StdinOnce with stdin_open (not detached): stdin closes with our attach.
        **({"stdin_open": True} if stdin else {}),
        **({"tty": True} if tty else {}),
        "log_config": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}},
        **hardening(user, web.memory if web else None, web.cpu if web else None, limits),
        **command_kwargs(launcher, command),
    }
