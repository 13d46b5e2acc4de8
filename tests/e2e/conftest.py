"""The real SSH gateway (OpenSSH sshd from scripts/gateway.sh) in front of the test controller."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git
import pytest

from .. import harness
from ..conftest import PASSWORD, REPO, ApiUser, Controller, unique


@dataclass
class Gateway:
    port: int

    def url(self, app: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{app}.git"


@pytest.fixture(scope="session")
def gateway(controller: Controller, tmp_path_factory) -> Iterator[Gateway]:
    log = tmp_path_factory.mktemp("sshd") / "sshd.log"
    sshd, port = harness.start_gateway(controller.gateway_dir, controller.url, controller.gateway_token_file, log)
    yield Gateway(port=port)
    harness.stop(sshd)


@dataclass
class Pusher:
    """A platform user with an SSH key, pushing from their own clone."""

    user: ApiUser
    key: Path
    env: dict[str, str]

    def git(self, repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=repo, env=self.env, capture_output=True, text=True,
                              timeout=600, check=check)

    def ssh(self, port: int, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ssh", *self.ssh_options(), "-p", str(port), "git@127.0.0.1", *command],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )

    def ssh_options(self) -> list[str]:
        return ["-i", str(self.key), "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]


@pytest.fixture
def make_pusher(services, tmp_path):
    def make(prefix: str = "pusher", register_key: bool = True) -> Pusher:
        name = unique(prefix)
        user, token = services.auth.register(name, PASSWORD)
        key = tmp_path / f"{name}_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test", "-f", str(key)],
                       check=True)
        if register_key:
            services.keys.add(user, (key.with_suffix(".pub")).read_text())
        ssh = " ".join(["ssh", *Pusher(ApiUser(name, token), key, {}).ssh_options()])
        env = {**os.environ, "GIT_SSH_COMMAND": ssh, "GIT_TERMINAL_PROMPT": "0"}
        return Pusher(ApiUser(name, token), key, env)

    return make


def sample_repo(sample: str, dest: Path) -> Path:
    """A git repo with one commit of a sample app, like a user's checkout."""
    path = dest / f"{sample}-{unique('repo')}"
    shutil.copytree(REPO / "tests" / "apps" / sample, path)
    repo = git.Repo.init(path, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test User")
        config.set_value("user", "email", "test@example.com")
    repo.git.add(A=True)
    repo.index.commit("initial")
    return path
