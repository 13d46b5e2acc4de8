"""Unit tests of the `paas` commands of the Run stage: waiting deploys, ps, scale, restart, logs,
run, limits, health checks, deployments and the deploy settings. The canned controller of
test_cli.py answers; routes with a callable body stream (NDJSON, text) or change between calls."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from paas.cli import logs as cli_logs
from paas.cli import ps as cli_ps
from paas.cli.client import Client, iter_lines
from paas.cli.errors import CLIError
from paas.cli.limits import parse_limits
from paas.cli.main import build_parser, main
from paas.cli.ps import instance_name, live_release, ready_counts, render_ps, seconds
from paas.cli.run import command_line, exit_status, relay
from paas.domain import run_stream
from paas.domain.run_stream import FROM_CLIENT, FrameReader

from . import test_cli
from .test_cli import FakeController, make_repo, release

# The canned controller's fixtures, shared with test_cli.py.
env = test_cli.env
server = test_cli.server

FAILED_DEPLOYMENT = {
    "id": "d3",
    "app": "myapp",
    "release": 3,
    "status": "failed",
    "description": "Canary web.1 exited or crashed before becoming healthy",
    "promoted": False,
    "groups": {"web": {"desired_total": 1, "desired_canaries": 1, "placed_canaries": 1, "healthy": 0}},
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:05Z",
}


def deployment(release_version: int = 3, status: str = "successful", **extra: Any) -> dict[str, Any]:
    return {**FAILED_DEPLOYMENT, "release": release_version, "status": status, "description": "done", **extra}


def instance(ident: str, kind: str = "web", version: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"paas-myapp-{kind}-v{version}-{ident}",
        "type": kind,
        "release": version,
        "state": "running",
        "health": "passing",
        "address": "127.0.0.1:41234" if kind == "web" else None,
        "canary": False,
        "started_at": "2026-01-02T03:04:05.123456789Z",
        **extra,
    }


FORMATION = {
    "processes": [
        {"type": "web", "quantity": 2, "memory": "512M", "cpu": 0.5, "healthcheck": "/health"},
        {"type": "worker", "quantity": 1, "memory": None, "cpu": None, "healthcheck": None},
    ],
    "update": {"min_healthy_time": 1.0, "healthy_deadline": 60.0, "drain_time": 1.5, "stop_timeout": 10.0,
               "check_failures": 3},
    "deployment": None,
}


# --- answers that stream or change ------------------------------------------------------------


def send_json(handler: BaseHTTPRequestHandler, body: Any, status: int = 200) -> None:
    payload = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def sequence(*bodies: Any) -> Callable[[BaseHTTPRequestHandler], None]:
    """Answer each call with the next body; the last one repeats."""
    remaining = list(bodies)

    def answer(handler: BaseHTTPRequestHandler) -> None:
        send_json(handler, remaining.pop(0) if len(remaining) > 1 else remaining[0])

    return answer


def chunked(pieces: list[bytes], kind: str, before: Callable[[int], None] | None = None):
    """A chunked HTTP/1.1 stream of pieces; before(i) runs before piece i is sent."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for index, piece in enumerate(pieces):
            if before:
                before(index)
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.close_connection = True

    return answer


def unframed(payload: bytes, kind: str):
    """An HTTP/1.0 body that ends when the connection closes (no length, not chunked)."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.end_headers()
        handler.wfile.write(payload)

    return answer


def ndjson(*messages: Any) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


# --- parsing ------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser, _ = build_parser()
    return parser.parse_args(list(argv))


def test_no_wait_flags() -> None:
    for argv in (
        ["config:set", "A=1"],
        ["config:unset", "A"],
        ["config:push"],
        ["releases:rollback"],
        ["builds:create", "img:1"],
        ["ps:restart"],
        ["ps:scale", "web=1"],
        ["healthchecks:set", "web", "/health"],
        ["healthchecks:unset", "web"],
        ["limits:set", "web=512M"],
        ["limits:unset", "web"],
    ):
        assert parse(*argv).no_wait is False, argv
        assert parse(*argv, "--no-wait").no_wait is True, argv


def test_new_command_arguments() -> None:
    args = parse("ps:restart", "worker", "-a", "myapp")
    assert (args.type, args.app) == ("worker", "myapp")
    assert parse("ps:restart").type is None
    args = parse("logs", "-f", "-n", "20", "--type", "web", "--type", "router", "--source", "web.1a2b3c",
                 "--since", "10m", "--json")
    assert (args.follow, args.num, args.type, args.source, args.since, args.json) == (
        True, 20, ["web", "router"], ["web.1a2b3c"], "10m", True)
    args = parse("logs", "--follow", "--num", "0")
    assert (args.follow, args.num, args.type, args.source, args.since, args.json) == (True, 0, [], [], None, False)
    assert (parse("logs").follow, parse("logs").num) == (False, 100)
    args = parse("limits:set", "web=512M", "worker=1G", "--cpu", "web=0.5", "--cpu", "worker=2")
    assert (args.memory, args.cpu) == (["web=512M", "worker=1G"], ["web=0.5", "worker=2"])
    assert parse("limits:set", "--cpu", "web=1").memory == []
    assert parse("limits:unset", "web", "worker").types == ["web", "worker"]
    args = parse("healthchecks:set", "web", "/health")
    assert (args.type, args.path) == ("web", "/health")
    args = parse("deploy:settings", "--min-healthy-time", "5", "--drain-time", "2.5s", "--stop-timeout", "1m")
    assert (args.min_healthy_time, args.healthy_deadline, args.drain_time, args.stop_timeout) == (5, None, 2.5, 60)
    assert args.handler is parse("ps:update").handler
    assert parse("deployments:info", "abc", "--json").id == "abc"
    assert parse("deployments", "--page", "2").page == 2


@pytest.mark.parametrize(
    "argv, app, command",
    [
        (
            ["run", "-a", "myapp", "--", "python", "manage.py", "migrate"],
            "myapp",
            ["--", "python", "manage.py", "migrate"],
        ),
        (["run", "python", "x.py"], None, ["python", "x.py"]),
        # Options after the command belong to it.
        (["run", "python", "x.py", "-a", "b", "--json"], None, ["python", "x.py", "-a", "b", "--json"]),
        (["run", "-a", "myapp", "ls", "-la"], "myapp", ["ls", "-la"]),
    ],
)
def test_run_takes_everything_after_it(argv: list[str], app: str | None, command: list[str]) -> None:
    args = parse(*argv)
    assert (args.app, args.command) == (app, command)


def test_run_command_line() -> None:
    assert command_line(["--", "python", "manage.py", "migrate"]) == "python manage.py migrate"
    assert command_line(["python", "-c", "print('hi there')"]) == "python -c 'print('\"'\"'hi there'\"'\"')'"
    assert command_line(["echo", "a b", "$HOME"]) == "echo 'a b' '$HOME'"
    # One word is a command line quoted on purpose.
    assert command_line(["rake db:migrate && rake seed"]) == "rake db:migrate && rake seed"
    for empty in ([], ["--"], [" "]):
        with pytest.raises(CLIError, match="Give a command"):
            command_line(empty)
    assert [exit_status(c) for c in (0, 3, 255, 256, -1, None, True, "2")] == [0, 3, 255, 1, 1, 1, 1, 1]


def test_usage_errors_of_new_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["logs", "-n", "x"],
        ["logs", "-n", "-1"],
        ["logs", "-n", "10001"],
        ["ps:update", "--drain-time", "x"],
    ):
        assert main(argv) == 2, argv
    assert main(["limits:unset"]) == 2
    assert main(["healthchecks:set", "web"]) == 2
    capsys.readouterr()


def test_parse_limits_and_seconds() -> None:
    assert parse_limits(["web=512m", "worker=1GB"], ["web=0.5"]) == {
        "web": {"memory": "512M", "cpu": 0.5},
        "worker": {"memory": "1G"},
    }
    assert parse_limits([], ["worker=2"]) == {"worker": {"cpu": 2.0}}
    for memory, cpu in (
        ([], []),
        (["web"], []),
        (["web=lots"], []),
        (["web=512"], []),
        (["=512M"], []),
        (["web=512M", "web=1G"], []),
        ([], ["web=x"]),
        ([], ["web=0"]),
        ([], ["web=65"]),
        ([], ["web=1", "web=2"]),
    ):
        with pytest.raises(CLIError):
            parse_limits(memory, cpu)
    assert [seconds(t) for t in ("10", "1.5s", "2m", "0")] == [10, 1.5, 120, 0]
    for bad in ("", "-1", "1h", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            seconds(bad)


# --- pure helpers -------------------------------------------------------------------------


def test_live_release_and_ready_counts() -> None:
    steady = {"instances": [instance("a"), instance("b", health="critical"), instance("c", "worker")]}
    assert live_release(steady) == 3
    assert ready_counts(steady, ["web", "worker"]) == {"web": 1, "worker": 1}
    # A deploy of v4 in progress: its canaries do not count, v3 still serves.
    rolling = {
        "instances": [instance("a"), instance("n", version=4, canary=True)],
        "deployment": deployment(4, "running"),
    }
    assert live_release(rolling) == 3
    assert ready_counts(rolling, ["web"]) == {"web": 1}
    # A failed deploy of v4 whose instances are being stopped: v3 serves.
    failed = {"instances": [instance("a"), instance("n", version=4)], "deployment": deployment(4, "failed")}
    assert live_release(failed) == 3
    finished = {"instances": [instance("a"), instance("n", version=4)], "deployment": deployment(4)}
    assert live_release(finished) == 4
    assert live_release({"instances": [], "deployment": None}) is None
    # Workers count when running, whatever their health; stopped ones never.
    assert ready_counts(
        {"instances": [instance("w", "worker", health="unknown"), instance("x", "worker", state="exited")]}, ["worker"]
    ) == {"worker": 1}


def test_render_ps() -> None:
    ps = {
        "instances": [
            instance("3f9a1c", "worker", address=None),
            instance("aaaaaa"),
            instance("bbbbbb", version=4, canary=True, health="critical", started_at=None),
        ],
        "deployment": deployment(
            4,
            "running",
            description="Deployment is running: starting canaries",
            groups={"web": {"desired_canaries": 2, "healthy": 1, "promoted": False}},
        ),
    }
    assert render_ps(FORMATION, ps) == [
        "=== web (2)",
        "web.aaaaaa     v3  running  passing   127.0.0.1:41234  since 2026-01-02 03:04:05 UTC",
        "web.bbbbbb     v4  running  critical  127.0.0.1:41234  (canary)",
        "",
        "=== worker (1)",
        "worker.3f9a1c  v3  running  passing   -                since 2026-01-02 03:04:05 UTC",
        "",
        "Deployment d3 of v4 running: Deployment is running: starting canaries (web 1/2 canaries healthy)",
    ]
    # A finished deployment says nothing; a failed one says why.
    assert render_ps(FORMATION, {"instances": [], "deployment": deployment()})[-1] == "=== worker (1)"
    assert render_ps(FORMATION, {"instances": [], "deployment": FAILED_DEPLOYMENT})[-1] == (
        "Deployment d3 of v3 failed: Canary web.1 exited or crashed before becoming healthy"
    )
    assert render_ps({"processes": []}, {"instances": []}) == ["No process types yet: deploy a build first"]
    assert instance_name({"id": "0123456789abcdef0123", "type": "web"}) == "web.0123456789ab"


def test_relay_ndjson(capsys: pytest.CaptureFixture[str]) -> None:
    lines = ['{"log": "Running migrations"}', "", '{"log": "  done"}', '{"exit_code": 3}', '{"log": "ignored"}']
    assert relay(iter(lines)) == 3
    assert capsys.readouterr().out == "Running migrations\n  done\n"
    with pytest.raises(CLIError, match="no build to run yet"):
        relay(iter(['{"log": "x"}', '{"error": "myapp has no build to run yet: push code first"}']))
    with pytest.raises(CLIError, match="ended before the command finished"):
        relay(iter(['{"log": "x"}']))
    with pytest.raises(CLIError, match="not JSON"):
        relay(iter(["<html>"]))


# --- waiting deploys ----------------------------------------------------------------------


def test_config_set_waits_and_reports_a_failed_deployment(
    server: FakeController, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_repo(env)
    path = "/v1/apps/myapp/config"
    server.route("PATCH", path, 200, {"values": {"A": "1"}, "release": release(3), "deployment": deployment()})
    assert main(["config:set", "A=1"]) == 0
    assert capsys.readouterr().out == "Setting config vars and restarting myapp... done, v3\n"
    assert server.last("PATCH", path).query == {}

    assert main(["config:set", "A=1", "--no-wait"]) == 0
    assert capsys.readouterr().out == "Setting config vars and restarting myapp... done, v3\n"
    assert server.last("PATCH", path).query == {"wait": ["false"]}

    # The deployment failed though the release is not (yet) marked failed.
    server.route("PATCH", path, 200, {"values": {"A": "1"}, "release": release(3), "deployment": FAILED_DEPLOYMENT})
    assert main(["config:unset", "A"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "Unsetting A and restarting myapp... failed\n"
    assert captured.err == "Error: v3 failed to deploy: Canary web.1 exited or crashed before becoming healthy\n"

    # --json still prints the answer, then fails.
    assert main(["config:set", "A=1", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["deployment"]["status"] == "failed"
    assert captured.err.startswith("Error: v3 failed to deploy")

    # Superseded by a newer release that failed: this one is fine.
    server.route(
        "PATCH", path, 200, {"values": {}, "release": release(3), "deployment": {**FAILED_DEPLOYMENT, "release": 4}}
    )
    assert main(["config:set", "A=1"]) == 0
    assert capsys.readouterr().out == "Setting config vars and restarting myapp... done, v3 (superseded by v4)\n"


def test_rollback_and_builds_create_wait(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    path = "/v1/apps/myapp/releases/rollback"
    server.route(
        "POST", path, 201, {**release(5, "alice rolled back to v2"), "deployment": FAILED_DEPLOYMENT | {"release": 5}}
    )
    assert main(["releases:rollback", "v2", "-a", "myapp", "--no-wait"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "Rolling back myapp to v2... failed\n"
    assert captured.err.startswith("Error: v5 failed to deploy: Canary web.1")
    assert server.last("POST", path).query == {"wait": ["false"]}

    path = "/v1/apps/myapp/builds"
    server.route("POST", path, 201, {"build": {"id": "b1"}, "release": release(6), "deployment": deployment(6)})
    assert main(["builds:create", "img:1", "-a", "myapp", "--no-wait"]) == 0
    assert capsys.readouterr().out == "Deploying img:1 to myapp... done, v6\n"
    assert server.last("POST", path).query == {"wait": ["false"]}
    server.route("POST", path, 201, {"build": {"id": "b1"}, "release": release(6), "deployment": None})
    assert main(["builds:create", "img:1", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "Deploying img:1 to myapp... done, v6\n"
    assert server.last("POST", path).query == {}


# --- ps -----------------------------------------------------------------------------------


def test_ps_shows_instances_and_json(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    ps = {"instances": [instance("aaaaaa"), instance("bbbbbb")], "deployment": FAILED_DEPLOYMENT}
    server.route("GET", "/v1/apps/myapp/formation", 200, FORMATION)
    server.route("GET", "/v1/apps/myapp/ps", 200, ps)
    assert main(["ps", "-a", "myapp"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "=== web (2)"
    assert out[1].split()[:5] == ["web.aaaaaa", "v3", "running", "passing", "127.0.0.1:41234"]
    assert "=== worker (1)" in out
    assert out[-1].startswith("Deployment d3 of v3 failed: ")
    assert main(["ps:list", "-a", "myapp", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["processes"] == FORMATION["processes"] and data["instances"] == ps["instances"]
    assert data["deployment"] == FAILED_DEPLOYMENT and data["update"] == FORMATION["update"]


def test_scale_waits_for_the_instances(
    server: FakeController, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_ps, "SCALE_POLL_INTERVAL", 0.01)
    formation = {"processes": [{"type": "web", "quantity": 3}, {"type": "worker", "quantity": 1}], "update": {}}
    server.route("PATCH", "/v1/apps/myapp/formation", 200, formation)
    starting = instance("c", state="starting", health="unknown")
    server.route(
        "GET",
        "/v1/apps/myapp/ps",
        200,
        sequence(
            {"instances": [instance("a")]},
            {"instances": [instance("a"), instance("b"), starting, instance("w", "worker")]},
            {"instances": [instance("a"), instance("b"), instance("c"), instance("w", "worker")]},
        ),
    )
    assert main(["ps:scale", "web=3", "worker=1", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "Scaling myapp processes... done, now web=3 worker=1\n"
    assert server.last("PATCH", "/v1/apps/myapp/formation").body == {"quantities": {"web": 3, "worker": 1}}
    assert len([r for r in server.requests if r.path == "/v1/apps/myapp/ps"]) == 3

    # --no-wait does not look; a scale that never gets there fails at the deadline.
    before = len(server.requests)
    assert main(["ps:scale", "web=3", "worker=1", "-a", "myapp", "--no-wait"]) == 0
    assert len(server.requests) == before + 1
    capsys.readouterr()
    monkeypatch.setattr(cli_ps, "SCALE_DEADLINE", 0.05)
    server.route("GET", "/v1/apps/myapp/ps", 200, {"instances": [instance("a")]})
    assert main(["ps:scale", "web=3", "worker=1", "-a", "myapp"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "Scaling myapp processes... failed\n"
    assert "web 1/3, worker 0/1 ready" in captured.err and "paas ps" in captured.err


def test_restart(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    path = "/v1/apps/myapp/ps/restart"
    server.route("POST", path, 200, {"deployment": deployment()})
    assert main(["ps:restart", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "Restarting myapp processes... done\n"
    assert server.last("POST", path).body == {}
    assert main(["ps:restart", "web", "-a", "myapp", "--no-wait"]) == 0
    assert (server.last("POST", path).body, server.last("POST", path).query) == ({"type": "web"}, {"wait": ["false"]})
    capsys.readouterr()
    server.route("POST", path, 200, {"deployment": FAILED_DEPLOYMENT})
    assert main(["ps:restart", "-a", "myapp"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "Restarting myapp processes... failed\n"
    assert captured.err == "Error: The change failed to deploy; v3 keeps serving as before: Canary web.1 exited or crashed before becoming healthy\n"


def test_deploy_settings(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    server.route("GET", "/v1/apps/myapp/formation", 200, FORMATION)
    assert main(["ps:update", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == (
        "=== myapp deploy settings\n"
        "Min healthy time:  1s\n"
        "Healthy deadline:  60s\n"
        "Drain time:        1.5s\n"
        "Stop timeout:      10s\n"
        "Check failures:    3\n"
    )
    changed = {**FORMATION, "update": {**FORMATION["update"], "healthy_deadline": 120.0}}
    server.route("PATCH", "/v1/apps/myapp/formation", 200, changed)
    assert main(["deploy:settings", "-a", "myapp", "--healthy-deadline", "2m"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Updating the deploy settings of myapp... done\n") and "Healthy deadline:  120s" in out
    assert server.last("PATCH", "/v1/apps/myapp/formation").body == {"update": {"healthy_deadline": 120.0}}


# --- limits, health checks, deployments ----------------------------------------------------


def test_limits_and_healthchecks(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    path = "/v1/apps/myapp/formation"
    server.route("GET", path, 200, FORMATION)
    server.route("PATCH", path, 200, {**FORMATION, "deployment": deployment()})
    assert main(["limits", "-a", "myapp"]) == 0
    assert capsys.readouterr().out.splitlines() == ["TYPE    MEMORY  CPU", "web     512M    0.5", "worker  -       -"]
    assert main(["healthchecks", "-a", "myapp"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "TYPE    CHECK",
        "web     HTTP GET /health",
        "worker  process running",
    ]

    assert main(["limits:set", "web=512M", "--cpu", "web=0.5", "--cpu", "worker=1", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "Limiting web=512M/0.5 CPU worker=1 CPU and restarting myapp... done\n"
    assert server.last("PATCH", path).body == {
        "limits": {"web": {"memory": "512M", "cpu": 0.5}, "worker": {"cpu": 1.0}}
    }
    assert server.last("PATCH", path).query == {}
    assert main(["limits:unset", "web", "-a", "myapp", "--no-wait"]) == 0
    assert server.last("PATCH", path).body == {"limits": {"web": {"memory": None, "cpu": None}}}
    assert server.last("PATCH", path).query == {"wait": ["false"]}
    assert main(["healthchecks:set", "web", "/health", "-a", "myapp"]) == 0
    assert server.last("PATCH", path).body == {"healthchecks": {"web": "/health"}}
    assert main(["healthchecks:unset", "web", "-a", "myapp"]) == 0
    assert server.last("PATCH", path).body == {"healthchecks": {"web": None}}
    capsys.readouterr()

    before = len(server.requests)
    assert main(["healthchecks:set", "web", "health", "-a", "myapp"]) == 1
    assert "must start with /" in capsys.readouterr().err and len(server.requests) == before

    server.route("PATCH", path, 200, {**FORMATION, "deployment": FAILED_DEPLOYMENT})
    assert main(["healthchecks:set", "web", "/health", "-a", "myapp"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "Setting the health check of web to /health and restarting myapp... failed\n"
    assert captured.err.startswith("Error: The change failed to deploy; v3 keeps serving as before: ")


def test_deployments(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    listing = {"count": 2, "page": 1, "per_page": 1, "results": [FAILED_DEPLOYMENT]}
    server.route("GET", "/v1/apps/myapp/deployments", 200, listing)
    assert main(["deployments", "-a", "myapp", "--per-page", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "RELEASE", "STATUS", "CREATED", "DESCRIPTION"]
    assert out[1].split()[:3] == ["d3", "v3", "failed"] and "--page 2" in out[-1]
    assert server.last("GET", "/v1/apps/myapp/deployments").query == {"per_page": ["1"]}

    server.route("GET", "/v1/apps/myapp/deployments/d3", 200, FAILED_DEPLOYMENT)
    assert main(["deployments:info", "d3", "-a", "myapp"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("=== myapp deployment d3\nRelease:      v3\nStatus:       failed\n")
    assert "TYPE  DESIRED  CANARIES  PLACED  HEALTHY  UNHEALTHY  PROMOTED" in out
    assert "web   1        1         1       0        0          no" in out
    timed = {**FAILED_DEPLOYMENT, "timeline": [
        {"phase": "start", "started_at": 10.0, "ended_at": 10.3, "duration": 0.3},
        {"phase": "first_check", "started_at": 10.3, "ended_at": None, "duration": None}]}
    server.route("GET", "/v1/apps/myapp/deployments/d3", 200, timed)
    assert main(["deployments:info", "d3", "-a", "myapp"]) == 0
    timeline = capsys.readouterr().out.split("--- Timeline\n")[1].splitlines()[:2]
    assert [line.split() for line in timeline] == [["canary", "start", "0.30", "s"],
                                                   ["first", "check", "passing", "running"]]
    server.route("GET", "/v1/apps/myapp/deployments/zz", 404, {"code": 404, "message": "Deployment 'zz' not found"})
    assert main(["deployments:info", "zz", "-a", "myapp"]) == 1
    assert capsys.readouterr().err == "Error: Deployment 'zz' not found\n"


# --- logs and run: streams ------------------------------------------------------------------


def test_logs_print_lines_as_they_arrive(
    server: FakeController, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    printed: list[str] = []
    first_printed = threading.Event()
    seen_before_second: list[bool] = []

    def fake_print(line: str, flush: bool = False) -> None:
        assert flush
        printed.append(line)
        first_printed.set()

    def before(index: int) -> None:
        if index == 1:
            # The client must show line 1 while the server still holds line 2.
            seen_before_second.append(first_printed.wait(5))

    monkeypatch.setattr(cli_logs, "print", fake_print, raising=False)
    pieces = [b"web.1 starting\n", b"web.1 lis", b"tening\r\nworker.2 tick\n", b"no newline at the end"]
    server.route("GET", "/v1/apps/myapp/logs", 200, chunked(pieces, "text/plain", before))
    assert main(["logs", "-a", "myapp", "-f", "-n", "5", "--type", "web"]) == 0
    assert seen_before_second == [True]
    assert printed == ["web.1 starting", "web.1 listening", "worker.2 tick", "no newline at the end"]
    request = server.last("GET", "/v1/apps/myapp/logs")
    assert request.query == {"tail": ["5"], "follow": ["true"], "type": ["web"], "format": ["text"]}
    assert request.headers["accept"] == "text/plain"

    monkeypatch.delattr(cli_logs, "print")
    server.route("GET", "/v1/apps/myapp/logs", 200, unframed("é\n\nlast\n".encode(), "text/plain"))
    assert main(["logs", "-a", "myapp", "-n", "50", "--source", "web.1a", "--source", "router", "--since", "1h",
                 "--json"]) == 0
    assert capsys.readouterr().out == "é\nlast\n"  # an empty line is a keep-alive, never a log line
    assert server.last("GET", "/v1/apps/myapp/logs").query == {
        "tail": ["50"], "follow": ["false"], "source": ["web.1a", "router"], "since": ["1h"], "format": ["json"]}


def test_logs_ctrl_c_exits_quietly(
    server: FakeController, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(response: Any) -> Iterator[str]:
        yield "one"
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_logs, "iter_lines", interrupted)
    server.route("GET", "/v1/apps/myapp/logs", 200, unframed(b"", "text/plain"))
    assert main(["logs", "-a", "myapp", "-f"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("one\n", "")


def test_logs_http_error(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "-a", "ghost"]) == 1
    assert capsys.readouterr().err == "Error: No such route\n"


def test_run_streams_output_and_exits_with_the_command(
    server: FakeController, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_repo(env)
    path = "/v1/apps/myapp/run"
    stream = ndjson({"log": "Applying migrations..."}, {"log": "  0001_initial OK"}, {"exit_code": 3})
    # Split inside a message: lines are put together before they are decoded.
    server.route("POST", path, 200, chunked([stream[:10], stream[10:45], stream[45:]], "application/x-ndjson"))
    assert main(["run", "--no-stdin", "--", "python", "manage.py", "migrate", "--noinput"]) == 3
    assert capsys.readouterr().out == "Applying migrations...\n  0001_initial OK\n"
    request = server.last("POST", path)
    assert request.body == {"command": "python manage.py migrate --noinput"}
    assert request.headers["accept"] == "application/x-ndjson"

    server.route("POST", path, 200, unframed(ndjson({"log": "hi"}, {"exit_code": 0}), "application/x-ndjson"))
    assert main(["run", "--no-stdin", "-a", "myapp", "echo", "it's"]) == 0
    assert capsys.readouterr().out == "hi\n"
    assert server.last("POST", path).body == {"command": "echo 'it'\"'\"'s'"}

    server.route(
        "POST", path, 200, unframed(ndjson({"error": "myapp has no build to run yet"}), "application/x-ndjson")
    )
    assert main(["run", "--no-stdin", "ls"]) == 1
    assert capsys.readouterr().err == "Error: myapp has no build to run yet\n"

    server.route("POST", path, 200, unframed(ndjson({"log": "partial"}), "application/x-ndjson"))
    assert main(["run", "--no-stdin", "ls"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "partial\n" and "ended before the command finished" in captured.err

    before = len(server.requests)
    assert main(["run"]) == 1
    assert "Give a command" in capsys.readouterr().err and len(server.requests) == before


def test_an_attached_run_that_the_controller_refuses_says_why(
    server: FakeController, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attach request is a plain POST until the controller switches protocols: its errors
    (a stranger's "not found") are shown like any other answer's."""
    make_repo(env)
    server.route("POST", "/v1/apps/myapp/run/attach", 404, {"code": 404, "message": "App 'myapp' not found"})
    assert main(["run", "cat"]) == 1
    assert capsys.readouterr().err == "Error: App 'myapp' not found\n"
    request = server.last("POST", "/v1/apps/myapp/run/attach")
    assert request.body == {"command": "cat", "tty": False}
    assert request.headers["upgrade"] == "paas-run.1" and request.headers["connection"] == "Upgrade"


def test_an_attached_run_relays_output_and_exits_with_the_command(
    server: FakeController, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_repo(env)
    received: list[tuple[bytes, bytes]] = []

    def switch(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: paas-run.1\r\nConnection: Upgrade\r\n\r\n")
        # Output split inside a frame, in the same packet as the head: nothing may be lost.
        stream = run_stream.frame(run_stream.STDOUT, b"out\n") + run_stream.frame(run_stream.STDERR, b"err\n")
        handler.wfile.write(stream[:7])
        handler.wfile.flush()
        received.extend(FrameReader(FROM_CLIENT).feed(handler.rfile.read(5)))  # stdin: none here, so EOF
        handler.wfile.write(stream[7:] + run_stream.exit_frame(7))
        handler.wfile.flush()
        handler.close_connection = True

    server.route("POST", "/v1/apps/myapp/run/attach", 101, switch)
    assert main(["run", "sh", "-c", "echo out; echo err >&2; exit 7"]) == 7
    captured = capsys.readouterr()
    assert captured.out == "out\n" and captured.err == "err\n"
    assert received == [(run_stream.STDIN_EOF, b"")]


def test_run_detached_prints_the_runs_name(server: FakeController, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_repo(env)
    server.route("POST", "/v1/apps/myapp/run/detached", 201, {"name": "run.4d5e6f"})
    assert main(["run:detached", "--", "python", "worker.py", "--once"]) == 0
    out = capsys.readouterr().out
    assert "run.4d5e6f" in out and "paas logs -a myapp --source run.4d5e6f" in out
    assert server.last("POST", "/v1/apps/myapp/run/detached").body == {"command": "python worker.py --once"}




def test_iter_lines_reports_a_cut_stream(server: FakeController) -> None:
    def cut(handler: BaseHTTPRequestHandler) -> None:
        handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.write(b"5\r\nline\n\r\n40\r\nshort")
        handler.close_connection = True

    server.route("GET", "/cut", 200, cut)
    with Client(server.url).stream("GET", "/cut") as response:
        lines = iter_lines(response)
        assert next(lines) == "line"
        with pytest.raises(CLIError, match="Lost the connection"):
            list(lines)
