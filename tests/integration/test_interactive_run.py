"""Interactive one-off runs (issue 14, item 4) with the real `paas` CLI, the real controller
(gunicorn) and Docker: `paas run bash` in a real terminal (tmux), piped stdin, detached runs,
and the permissions of the API (a collaborator may run, a stranger gets "not found").

Run with PYTHONPATH set to the checkout, so the controller and the CLI run this code."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import pytest
import requests

from tests.conftest import PASSWORD, REPO, unique, wait_until


@dataclass
class RunApp:
    name: str
    headers: dict
    env: dict  # a CLI session of the owner

    def cli(self, *args: str, env: dict | None = None, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "paas.cli.main", *args], env=env or self.env, cwd=REPO,
                              input=stdin if stdin is not None else "", capture_output=True, text=True,
                              timeout=timeout)


def cli_env(controller, token: str, home: Path) -> dict:
    env = {**os.environ, "PAAS_URL": controller.url, "PAAS_TOKEN": token, "PAAS_HOME": str(home),
           "PYTHONPATH": str(REPO)}
    return env


@pytest.fixture(scope="module")
def run_app(controller, services, docker_client, settings, tmp_path_factory) -> Iterator[RunApp]:
    """An app whose release is the run stack (bash, python3), pushed to its own repository."""
    _, token = services.auth.register(unique("runner"), PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    app = unique("tty")
    url = f"{controller.url}/v1/apps"
    assert requests.post(url, json={"name": app}, headers=headers, timeout=10).status_code == 201
    repository = f"{settings.registry}/{app}"
    docker_client.images.get("paas/stack-run:latest").tag(repository, "t1")
    try:
        docker_client.images.push(repository, "t1")
        body = {"image": f"{repository}:t1", "procfile": {"web": "exec python3 -m http.server $PORT"}}
        created = requests.post(f"{url}/{app}/builds", json=body, headers=headers, timeout=120)
        assert created.status_code == 201, created.text
        yield RunApp(app, headers, cli_env(controller, token, tmp_path_factory.mktemp("cli-home")))
    finally:
        requests.delete(f"{url}/{app}", headers=headers, timeout=60)
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(f"{repository}:t1")


def run_containers(docker_client, settings, app: str) -> list:
    return docker_client.containers.list(all=True, filters={"label": [
        f"paas.app={app}", "paas.role=run", f"paas.platform={settings.kv_prefix}"]})


def test_piped_stdin_reaches_the_command_and_streams_stay_apart(run_app):
    piped = run_app.cli("run", "-a", run_app.name, "cat", stdin="hi\nthere\n")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "hi\nthere\n"

    both = run_app.cli("run", "-a", run_app.name, "--", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert both.returncode == 4
    assert both.stdout == "out\n" and both.stderr == "err\n"


def test_the_streamed_run_without_stdin_still_works(run_app):
    streamed = run_app.cli("run", "--no-stdin", "-a", run_app.name, "echo $PAAS_APP && exit 5")
    assert streamed.returncode == 5
    assert streamed.stdout.strip() == run_app.name


def test_a_stranger_gets_not_found_and_a_collaborator_may_run(controller, run_app, make_user, tmp_path):
    stranger = make_user("stranger")
    refused = run_app.cli("run", "-a", run_app.name, "cat", stdin="secret\n",
                          env=cli_env(controller, stranger.token, tmp_path / "s"))
    assert refused.returncode == 1 and "not found" in refused.stderr.lower()
    assert "secret" not in refused.stdout
    detached = run_app.cli("run:detached", "-a", run_app.name, "true",
                           env=cli_env(controller, stranger.token, tmp_path / "s"))
    assert detached.returncode == 1 and "not found" in detached.stderr.lower()

    collaborator = make_user("collab")
    granted = requests.post(f"{controller.url}/v1/apps/{run_app.name}/perms", json={"username": collaborator.username},
                            headers=run_app.headers, timeout=10)
    assert granted.status_code in (200, 201), granted.text
    allowed = run_app.cli("run", "-a", run_app.name, "cat", stdin="hi\n",
                          env=cli_env(controller, collaborator.token, tmp_path / "c"))
    assert allowed.returncode == 0 and allowed.stdout == "hi\n", allowed.stderr


def test_the_run_is_killed_and_removed_when_the_client_goes_away(run_app, docker_client, settings):
    before = {c.id for c in run_containers(docker_client, settings, run_app.name)}
    proc = subprocess.Popen([sys.executable, "-m", "paas.cli.main", "run", "-a", run_app.name, "sleep", "600"],
                            env=run_app.env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        mine = wait_until(lambda: [c for c in run_containers(docker_client, settings, run_app.name)
                                   if c.id not in before and c.status == "running"], 60, message="the run starts")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    wait_until(lambda: not any(c.id == mine[0].id for c in run_containers(docker_client, settings, run_app.name)),
               30, message="the run's container is removed")


def test_a_detached_run_is_an_ordinary_run_container_that_keeps_its_output(run_app, docker_client, settings):
    started = run_app.cli("run:detached", "-a", run_app.name, "--", "sh", "-c", "echo detached-$PAAS_APP")
    assert started.returncode == 0, started.stderr
    name = next(word for word in started.stdout.split() if word.startswith("run."))
    matching = wait_until(lambda: [c for c in run_containers(docker_client, settings, run_app.name)
                                   if c.name.endswith("-" + name.removeprefix("run."))], 30, message="the container")
    container = matching[0]
    try:
        labels = container.labels
        assert labels["paas.type"] == "run" and labels["paas.app"] == run_app.name and "paas.deadline" in labels
        # Its output stays in Docker's log for the log collector (the container is not removed on exit).
        wait_until(lambda: f"detached-{run_app.name}" in container.logs().decode(), 30, message="its output")
        container.reload()
        assert container.attrs["HostConfig"]["CapDrop"] == ["ALL"]
    finally:
        container.remove(force=True)


class Tmux:
    """A detached tmux session on a private socket: a real terminal for the CLI."""

    def __init__(self, script: Path, width: int = 120, height: int = 40):
        self.socket = f"paas-test-{uuid.uuid4().hex[:8]}"
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), f"sh {shlex.quote(str(script))}")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t", "-S", "-200")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)
        self.tmux("send-keys", "-t", "t", "Enter")

    def see(self, text: str, timeout: float = 30) -> str:
        try:
            return wait_until(lambda: text in self.screen() and self.screen(), timeout, message=f"{text!r} on screen")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; the screen:\n{self.screen()}") from None

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def test_run_bash_gives_a_real_terminal(run_app, tmp_path, docker_client, settings):
    script = tmp_path / "session.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in run_app.env.items()
                      if k.startswith(("PAAS_", "PYTHON")) or k in ("PATH", "NO_PROXY", "no_proxy", "HOME"))
    script.write_text(f"{exports}cd {shlex.quote(str(REPO))}\n"
                      f"{shlex.quote(sys.executable)} -m paas.cli.main run -a {run_app.name} bash\n"
                      "echo \"CLI-EXITED:$?\"\nsleep 600\n")
    term = Tmux(script)
    try:
        term.see("$", 60)  # bash's prompt (tmux trims the space after it), from the container's terminal
        term.type('echo "app=$PAAS_APP tty=$(tty)"')
        term.see(f"app={run_app.name} tty=/dev/pts/")
        term.type('echo "size=$(stty size)"')
        term.see("size=40 120")
        term.tmux("resize-window", "-t", "t", "-x", "100", "-y", "30")
        term.type('echo "size=$(stty size)"')
        term.see("size=30 100")

        # Ctrl-C reaches the process in the container; the shell stays.
        term.type("sleep 100")
        run = wait_until(lambda: [c for c in run_containers(docker_client, settings, run_app.name)
                                  if c.status == "running"], 30, message="the run container")[0]
        wait_until(lambda: any("sleep 100" in " ".join(p) for p in run.top()["Processes"]), 30, message="sleep runs")
        term.tmux("send-keys", "-t", "t", "C-c")
        term.type('echo "interrupted=$?"')
        term.see("interrupted=130")

        term.type("exit 3")
        term.see("CLI-EXITED:3")
    finally:
        term.kill()


def test_an_attach_without_the_upgrade_is_refused_before_anything_runs(controller, run_app, docker_client, settings):
    before = len(run_containers(docker_client, settings, run_app.name))
    plain = requests.post(f"{controller.url}/v1/apps/{run_app.name}/run/attach", json={"command": "bash"},
                          headers=run_app.headers, timeout=10)
    assert plain.status_code == 426 and "Upgrade: paas-run.1" in plain.json()["message"]
    half = requests.post(f"{controller.url}/v1/apps/{run_app.name}/run/attach",
                         json={"command": "bash", "tty": True, "rows": 24}, headers=run_app.headers, timeout=10)
    assert half.status_code == 422
    assert len(run_containers(docker_client, settings, run_app.name)) == before
