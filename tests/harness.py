"""Start the platform's own processes for tests and benchmarks: the controller and the SSH gateway.
(Consul, Docker and the registry are started by scripts/services.sh.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import requests

from paas.router.client import wait_for

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GATEWAY_SCRIPT = REPO / "scripts" / "gateway.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exited(proc: subprocess.Popen, log: Path, name: str) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")


def start_controller(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """`paas-controller` on a free loopback port with `env` added; returns once /healthz answers."""
    port = free_port()
    # A test controller never replaces the platform's route (paas.<domain>) to the real one.
    env = {"PAAS_CONTROLLER_ROUTE": "0", **env}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "paas-controller"), "--bind", f"127.0.0.1:{port}"],
                                env={**os.environ, **env}, stdout=out, stderr=out, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        _exited(proc, log, "paas-controller")
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(healthy, 30, "paas-controller /healthz")
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

    wait_for(listening, 15, "sshd to listen")
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
