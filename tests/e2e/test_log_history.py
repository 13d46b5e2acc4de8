"""Issue 14's acceptance, as a user sees it through the real `paas` CLI, the real controller
(gunicorn), Docker, Consul, the shared Traefik and the SSH gateway: logs survive a failed
deploy, `paas logs -n` merges every source in time order (router lines included) and `-f`
leaves nothing behind, a drain gets a line within a second, and one-off runs land in the
history, detached or attached."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import git
import pytest
import requests

from .. import harness
from ..conftest import BIN, unique, wait_until
from ..support.syslog import SyslogListener
from ..support.threads import settled_threads, worker_threads
from .deploy_support import AppClient, pushed_flask_app
from .test_deploy import WEB_AND_WORKER, flask_image  # noqa: F401 - a fixture

ROUTER = f"http://127.0.0.1:{os.environ.get('PAAS_HTTP_PORT', '8080')}"
# `2026-12-02T09:00:00.123456Z web.1a2b3c[failed canary v3]: text`, as `paas logs` prints a line.
LINE = re.compile(r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<source>[a-z0-9.-]+)(?:\[(?P<tag>[^\]]+)\])?: "
                  r"(?P<text>.*)")


class Cli:
    """The real `paas` command as one user, against one controller, for one app."""

    def __init__(self, url: str, token: str, app: str, home: Path):
        self.app = app
        # PYTHONPATH: this checkout's paas (a worktree's), as the harness gives the controller.
        self.env = {**os.environ, "PAAS_URL": url, "PAAS_TOKEN": token, "PAAS_HOME": str(home),
                    "PYTHONPATH": str(harness.REPO)}

    def command(self, name: str, *args: str) -> list[str]:
        # -a before the arguments: a run's command takes every word after it.
        return [str(BIN / "paas"), name, "-a", self.app, *args]

    def run(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"paas {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def logs(self, *args: str) -> list[re.Match]:
        lines = self.run("logs", *args).splitlines()
        parsed = [LINE.fullmatch(line) for line in lines]
        assert all(parsed), [line for line, match in zip(lines, parsed, strict=True) if not match]
        return parsed  # type: ignore[return-value]


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def new_app(controller_url: str, user, settings, flask_image: str, procfile: dict[str, str],  # noqa: F811
            prefix: str) -> AppClient:
    client = AppClient(controller_url, user.token, unique(prefix), settings.consul_addr)
    created = requests.post(f"{controller_url}/v1/apps", json={"name": client.app}, headers=user.headers, timeout=10)
    assert created.status_code == 201, created.text
    client.ok("PATCH", "/formation", json={"update": {"healthy_deadline": 30, "drain_time": 1}})
    deployed = client.deploy_image(flask_image, procfile)
    assert deployed["deployment"]["promoted"], deployed["deployment"]
    return client


# ---------------------------------------------------------------------- 1. a failed deploy's lines
@pytest.fixture
def pushed_app(services, make_pusher, gateway, controller, settings, tmp_path):
    """An app serving the flask sample, pushed with git through the gateway."""
    pusher = make_pusher("logpush")
    with pushed_flask_app(services, pusher, gateway, controller, settings, tmp_path, "logs") as (repo, client):
        yield pusher, repo, client


def test_a_deploy_whose_process_exits_leaves_its_last_lines_in_paas_logs_marked_as_the_failed_canary(
        pushed_app, controller, tmp_path):
    pusher, repo, client = pushed_app
    app_py = repo / "app.py"
    app_py.write_text('import sys\nprint("boom: DATABASE_URL is not set", flush=True)\nsys.exit(3)\n'
                      + app_py.read_text())
    git.Repo(repo).git.commit("-am", "crash at start")
    pushed = pusher.git(repo, "push", "paas", "main", check=False)
    assert pushed.returncode != 0, pushed.stderr
    failure = client.ok("GET", "/deployments")["results"][0]["failure"]
    canary = failure["instance"]
    assert re.fullmatch(r"web\.[0-9a-z]+", canary), failure

    cli = Cli(controller.url, pusher.user.token, client.app, tmp_path / "home")
    lines = cli.logs("-n", "200")
    failed = [m for m in lines if m["source"] == canary]
    assert failed, "\n".join(m[0] for m in lines)
    # Every line of that instance carries the mark, the app's own last words among them.
    assert {m["tag"] for m in failed} == {"failed canary v3"}, [m[0] for m in failed]
    boom = [m for m in failed if m["text"] == "boom: DATABASE_URL is not set"]
    assert boom, [m[0] for m in failed]
    assert abs(epoch(boom[0]["ts"]) - time.time()) < 300  # a real time, not a placeholder
    assert f"{canary}[failed canary v3]: boom: DATABASE_URL is not set" in boom[0][0]
    releases = [m["text"] for m in lines if m["source"] == "release"]
    assert any(text.startswith("v3 failed") for text in releases), releases
    # And only that instance's lines: asked for by its source.
    assert {m["source"] for m in cli.logs("--source", canary)} == {canary}


# ---------------------------------------------------------------------- 2. -n across sources, -f
@pytest.fixture(scope="module")
def counted_controller(controller, tmp_path_factory) -> Iterator[tuple[str, int]]:
    """A second controller of the platform (same store and KV) with one worker of 4 request
    threads, so that a thread held by a follow shows; the first controller collects."""
    env = {**controller.env, "PAAS_WORKERS": "1", "PAAS_THREADS": "4"}
    proc, url = harness.start_controller(env, tmp_path_factory.mktemp("counted") / "controller.log")
    yield url, proc.pid
    harness.stop(proc)


def test_logs_n_50_merges_three_webs_a_worker_and_the_router_in_time_order_and_follow_leaves_no_thread(
        counted_controller, services, make_user, settings, flask_image, tmp_path):  # noqa: F811
    url, master = counted_controller
    user = make_user("logreader")
    # gunicorn writes an access line of its own per request: every web instance has lines to merge.
    procfile = {**WEB_AND_WORKER, "web": WEB_AND_WORKER["web"].replace(" app:app", " --access-logfile - app:app")}
    client = new_app(url, user, settings, flask_image, procfile, "logs")
    try:
        client.ok("PATCH", "/formation", json={"quantities": {"web": 3, "worker": 1}})
        client.wait_passing(3, release=2, timeout=60)
        host = f"{client.app}.{services.settings.platform_domain}"
        wait_until(lambda: requests.get(f"{ROUTER}/health", headers={"Host": host}, timeout=2).status_code == 200,
                   timeout=20, message=f"{client.app} through the router")
        session = requests.Session()
        for _ in range(15):
            assert session.get(f"{ROUTER}/health?token=s3cret", headers={"Host": host}, timeout=5).status_code == 200
            assert session.get(f"{ROUTER}/no-such-page", headers={"Host": host}, timeout=5).status_code == 404
        cli = Cli(url, user.token, client.app, tmp_path / "home")

        def routed() -> list[re.Match]:
            lines = cli.logs("--source", "router", "-n", "1000")
            return lines if len(lines) >= 30 else []

        router = wait_until(routed, timeout=20, interval=0.5, message="30 router lines in the history")
        texts = [m["text"] for m in router]
        assert any(re.fullmatch(r"GET /health 200 \S+ms instance=web\.[0-9a-z]+", t) for t in texts), texts
        assert any(t.startswith("GET /no-such-page 404 ") for t in texts), texts
        assert not any("s3cret" in t for t in texts)  # query strings are never kept

        def worker_ticked() -> bool:
            return any(m["source"].startswith("worker.") for m in cli.logs("-n", "50"))

        wait_until(worker_ticked, timeout=20, interval=0.5, message="a worker tick among the newest 50 lines")
        lines = cli.logs("-n", "50")
        assert len(lines) == 50
        stamps = [epoch(m["ts"]) for m in lines]
        assert stamps == sorted(stamps), "\n".join(m[0] for m in lines)
        sources = {m["source"] for m in lines}
        assert "router" in sources and any(s.startswith("worker.") for s in sources), sources
        assert len({s for s in sources if s.startswith("web.")}) >= 2, sources
        # All three web instances are in the history.
        webs = {m["source"] for m in cli.logs("--type", "web", "-n", "1000")}
        assert len(webs) == 3, webs

        # -f: follows as the history grows, and ends with its client without leaving a thread.
        for response in [_follow(url, client) for _ in range(4)]:
            response.close()  # gunicorn's pool of 4 request threads, filled once
        baseline = settled_threads(master)
        follow = subprocess.Popen(cli.command("logs", "-f", "-n", "0", "--source", "router"), env=cli.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  text=True, start_new_session=True)
        marker = f"/followed-{uuid.uuid4().hex[:8]}"
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.extend(follow.stdout), daemon=True)
        reader.start()
        try:
            def followed() -> bool:
                session.get(f"{ROUTER}{marker}", headers={"Host": host}, timeout=5)
                return any(marker in line for line in seen)

            wait_until(followed, timeout=20, interval=0.5, message="a new router line in paas logs -f")
        finally:
            follow.send_signal(signal.SIGINT)  # Ctrl-C
            follow.wait(timeout=10)
        wait_until(lambda: worker_threads(master) <= baseline, timeout=15, interval=0.2,
                   message=f"the follow's thread to end with its client (baseline {baseline})")
        for _ in range(12):  # three times the request threads: none may stay taken
            _follow(url, client).close()
        assert session.get(f"{url}/healthz", timeout=10).ok
        wait_until(lambda: worker_threads(master) <= baseline, timeout=15, interval=0.2,
                   message=f"the threads of 12 abandoned follows to end (baseline {baseline})")
    finally:
        client.call("DELETE")


def _follow(url: str, client: AppClient) -> requests.Response:
    response = client.session.get(f"{url}/v1/apps/{client.app}/logs", params={"follow": "true", "tail": "0"},
                                  stream=True, timeout=(5, 10))
    assert response.status_code == 200, response.text
    return response


# ---------------------------------------------------------------------- 3. a drain
@pytest.fixture(scope="module")
def drain_controller(controller, tmp_path_factory) -> Iterator[str]:
    """A controller whose operator allows drains to loopback (PAAS_DRAIN_ALLOW_NETWORKS), with a
    history of its own: its own collector (the host lock is per data directory) forwards."""
    env = {**controller.env, "PAAS_WORKERS": "1", "PAAS_DRAIN_ALLOW_NETWORKS": "127.0.0.1/32",
           "PAAS_DATA_DIR": str(tmp_path_factory.mktemp("drain-data"))}
    proc, url = harness.start_controller(env, tmp_path_factory.mktemp("drain") / "controller.log")
    yield url
    harness.stop(proc)


def test_a_syslog_drain_receives_the_apps_line_within_a_second_of_its_writing(
        drain_controller, make_user, settings, flask_image, tmp_path):  # noqa: F811
    user = make_user("drainer")
    client = new_app(drain_controller, user, settings, flask_image, {"web": WEB_AND_WORKER["web"]}, "drain")
    listener = SyslogListener()
    try:
        cli = Cli(drain_controller, user.token, client.app, tmp_path / "home")
        cli.run("drains:add", f"syslog://127.0.0.1:{listener.port}")
        marker = f"marker-{uuid.uuid4().hex[:8]}"

        def received() -> tuple[float, str] | None:
            # The drain list is cached for a moment after drains:add: a run until one arrives.
            if not any(marker in frame for _, frame in listener.frames):
                cli.run("run:detached", f"echo {marker}")
            return next(((at, frame) for at, frame in listener.frames if frame.endswith(f" {marker}")), None)

        arrived, frame = wait_until(received, timeout=30, interval=1.0, message=f"{marker} at the syslog drain")
        match = re.fullmatch(rf"<14>1 (\S+) {re.escape(client.app)} app (run\.[0-9a-z]+) - - {marker}", frame)
        assert match, frame
        # Within a second of Docker's time of the write (the frame's timestamp is that time).
        assert arrived - epoch(match[1]) < 1.0, (frame, arrived - epoch(match[1]))
    finally:
        listener.close()
        client.call("DELETE")


# ---------------------------------------------------------------------- 4. one-off runs
def test_detached_and_short_attached_runs_land_in_the_history_under_their_run_source(
        controller, make_user, settings, flask_image, tmp_path):  # noqa: F811
    user = make_user("runner")
    client = new_app(controller.url, user, settings, flask_image, {"web": WEB_AND_WORKER["web"]}, "runlog")
    try:
        cli = Cli(controller.url, user.token, client.app, tmp_path / "home")
        detached_marker = f"detached-{uuid.uuid4().hex[:8]}"
        started = cli.run("run:detached", f"echo {detached_marker}")
        [source] = re.findall(r"--source (run\.[0-9a-z]+)", started)

        def detached_stored() -> list[re.Match]:
            return [m for m in cli.logs("--source", source) if m["text"] == detached_marker]

        [line] = wait_until(detached_stored, timeout=15, interval=0.3, message=f"{detached_marker} in the history")
        assert line["source"] == source

        # Attached runs of a moment (the container is removed as soon as its output ends),
        # with piped stdin and with none, several times: every one's output is in the history.
        markers = []
        for attempt in range(3):
            for options in ((), ("--no-stdin",)):
                marker = f"attached-{attempt}-{len(options)}-{uuid.uuid4().hex[:6]}"
                assert cli.run("run", *options, "echo", marker).strip() == marker
                markers.append(marker)

        def attached_stored() -> bool:
            texts = {m["text"]: m["source"] for m in cli.logs("--type", "run", "-n", "1000")}
            return all(marker in texts for marker in markers)

        wait_until(attached_stored, timeout=10, interval=0.3, message="every attached run's output in the history")
        sources = {m["source"] for m in cli.logs("--type", "run", "-n", "1000") if m["text"] in markers}
        assert len(sources) == len(markers) and all(s.startswith("run.") for s in sources), sources
    finally:
        client.call("DELETE")
