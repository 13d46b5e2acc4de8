"""Start the platform's own processes for tests and benchmarks: the controller and the SSH gateway.
(Consul, Docker and the registry are started by scripts/services.sh; `PrivateServices` runs a
second, private set of them through that script, in its own run directory and on its own ports.)"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import requests

from .support.polling import wait_until

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GATEWAY_SCRIPT = REPO / "scripts" / "gateway.sh"
SERVICES_SCRIPT = REPO / "scripts" / "services.sh"
# What a private scripts/services.sh must not inherit from the test run: the shared services'
# addresses (it would reuse them) and scripts/test.sh's list of services to stop at its end.
SHARED_SERVICE_ENV = ("CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "PAAS_SERVICES_STARTED",
                      "PAAS_REGISTRY", "PAAS_ROUTER_DIR", "PAAS_HTTP_PORT", "PAAS_HTTPS_PORT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_block(count: int, low: int = 20000, high: int = 40000) -> int:
    """The first of `count` consecutive free loopback ports (a Consul agent uses PORT..PORT+5)."""
    for start in range(low + secrets.randbelow(1000) * 10, high, 10):
        try:
            for port in range(start, start + count):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return start
    raise RuntimeError(f"no {count} consecutive free ports in {low}..{high}")


def consul_session(token: str | None = None) -> requests.Session:
    """Raw HTTP to Consul as the test run's token (CONSUL_HTTP_TOKEN) or `token`; "" is anonymous."""
    http = requests.Session()
    http.trust_env = False  # loopback: never through a proxy
    token = os.environ.get("CONSUL_HTTP_TOKEN", "") if token is None else token
    if token:
        http.headers["X-Consul-Token"] = token
    return http


class PrivateServices:
    """scripts/services.sh with its own PAAS_RUN_DIR (state, secrets) and ports: never the shared ones."""

    def __init__(self, run_dir: Path, **env: str):
        self.run_dir = run_dir
        clean = {k: v for k, v in os.environ.items() if k not in SHARED_SERVICE_ENV}
        self.env = {**clean, "PAAS_RUN_DIR": str(run_dir), **env}

    def __call__(self, action: str, *names: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", str(SERVICES_SCRIPT), action, *names], env=self.env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0 and action != "status":
            raise RuntimeError(f"services.sh {action} {' '.join(names)} failed: {done.stdout}{done.stderr}")
        return done

    @property
    def secrets(self) -> Path:
        return Path(self.env.get("PAAS_SECRETS_DIR") or Path(self.env.get("PAAS_STATE_DIR") or self.run_dir) / "secrets")

    def token(self, component: str) -> str:
        """A Consul ACL token scripts/consul_acl.py wrote: management, controller, router, agent."""
        return (self.secrets / f"consul-{component}.token").read_text().strip()

    def addr(self, service: str) -> str:
        return (self.run_dir / f"{service}.addr").read_text().strip()


UP_SCRIPT = REPO / "scripts" / "up.sh"
DOWN_SCRIPT = REPO / "scripts" / "down.sh"
# What a private scripts/up.sh must not inherit either: the shared platform's registry account,
# gateway and controller settings, and any placement a caller's environment may hold.
SHARED_PLATFORM_ENV = SHARED_SERVICE_ENV + (
    "PAAS_REGISTRY_USERNAME", "PAAS_REGISTRY_PASSWORD", "PAAS_REGISTRY_PASSWORD_FILE", "PAAS_GATEWAY_TOKEN",
    "PAAS_GATEWAY_TOKEN_FILE", "PAAS_GIT_DIR", "PAAS_URL", "PAAS_BIND", "PAAS_SSH_PORT", "PAAS_CONSUL_PORT",
    "PAAS_REGISTRY_PORT", "PAAS_TRAEFIK_PORT", "PAAS_RUN_DIR", "PAAS_STATE_DIR", "PAAS_SECRETS_DIR",
    "PAAS_GATEWAY_DIR", "PAAS_KV_PREFIX", "PAAS_DATA_DIR", "PAAS_CONSUL_DATA", "PAAS_REGISTRY_DATA")


class PrivatePlatform:
    """A whole platform from scripts/up.sh (stopped by scripts/down.sh) in private directories and
    on private ports: its own Consul, registry, Traefik, controller and SSH gateway. Only the
    host's dockerd and firewall chain are shared: up.sh reuses them and down.sh leaves them.
    `gateway_dir` must be root-owned and not under a world-writable directory (sshd's rule)."""

    SERVICES = ("consul", "registry", "traefik", "controller", "gateway")

    def __init__(self, base: Path, gateway_dir: Path, prefix: str, **env: str):
        # One block: Consul takes PORT..PORT+5 (HTTP, server, serf LAN/WAN, gRPC, DNS).
        first = free_port_block(12)
        self.ports = {"consul": first, "registry": first + 6, "http": first + 7, "https": first + 8,
                      "traefik": first + 9, "controller": first + 10, "ssh": first + 11}
        self.run_dir, self.state_dir, self.gateway_dir = base / "run", base / "state", gateway_dir
        self.prefix = prefix
        clean = {k: v for k, v in os.environ.items() if k not in SHARED_PLATFORM_ENV}
        self.env = {
            **clean,
            "PAAS_RUN_DIR": str(self.run_dir),
            "PAAS_STATE_DIR": str(self.state_dir),
            "PAAS_GATEWAY_DIR": str(gateway_dir),
            "PAAS_DATA_DIR": str(base / "data"),
            "PAAS_KV_PREFIX": prefix,
            "PAAS_CONSUL_PORT": str(self.ports["consul"]),
            "PAAS_REGISTRY_PORT": str(self.ports["registry"]),
            "PAAS_HTTP_PORT": str(self.ports["http"]),
            "PAAS_HTTPS_PORT": str(self.ports["https"]),
            "PAAS_TRAEFIK_PORT": str(self.ports["traefik"]),
            "PAAS_BIND": f"127.0.0.1:{self.ports['controller']}",
            "PAAS_SSH_PORT": str(self.ports["ssh"]),
            # The machine is set up: neither the shared venv nor the stack images are touched.
            "PAAS_SKIP_INSTALL": "1",
            "PAAS_WORKERS": "1",
            **env,
        }

    def _run(self, script: Path) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", str(script)], env=self.env, capture_output=True, text=True, timeout=150)
        if done.returncode != 0:
            raise RuntimeError(f"{script.name} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done

    def up(self) -> subprocess.CompletedProcess:
        return self._run(UP_SCRIPT)

    def down(self) -> subprocess.CompletedProcess:
        return self._run(DOWN_SCRIPT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['controller']}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.ports['registry']}"

    def secret(self, name: str) -> str:
        """A file of the platform's secrets directory (root only), e.g. registry-password."""
        return (self.state_dir / "secrets" / name).read_text().strip()

    def pids(self) -> dict[str, int]:
        """The pids up.sh recorded for the processes it started."""
        found = {}
        for name in self.SERVICES:
            path = self.run_dir / f"{name}.pid"
            if path.exists():
                found[name] = int(path.read_text().strip())
        return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (this container's init may reap late)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _exited(proc: subprocess.Popen, log: Path, name: str) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")


def start_controller(env: dict[str, str], log: Path, unset: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """`paas-controller` on a free loopback port with `env` added and the variables in `unset` removed
    from this process's environment (which it inherits otherwise, CONSUL_HTTP_TOKEN included);
    returns once /healthz answers."""
    port = free_port()
    # A test controller never replaces the platform's route (paas.<domain>) to the real one.
    # PYTHONPATH: the controller runs this checkout's paas (a worktree's), not the one the
    # virtualenv's editable install points at.
    env = {"PAAS_CONTROLLER_ROUTE": "0", "PYTHONPATH": str(REPO), **env}
    inherited = {k: v for k, v in os.environ.items() if k not in unset}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "paas-controller"), "--bind", f"127.0.0.1:{port}"],
                                env={**inherited, **env}, stdout=out, stderr=out, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        _exited(proc, log, "paas-controller")
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(healthy, 30, message="paas-controller /healthz")
    return proc, url


def start_gateway(directory: Path, controller_url: str, token_file: Path, log: Path) -> tuple[subprocess.Popen, int]:
    """A real sshd configured by scripts/gateway.sh in `directory` (root-owned, not under /tmp)."""
    port = free_port()
    subprocess.run([str(GATEWAY_SCRIPT), "setup", str(directory), str(port), controller_url, str(token_file)],
                   check=True, capture_output=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(GATEWAY_SCRIPT), "run", str(directory)], stdout=out, stderr=out)

    def listening() -> bool:
        _exited(proc, log, "sshd")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, 15, message="sshd to listen")
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
