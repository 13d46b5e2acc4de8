"""Unit tests of the `paas` CLI: parsing, local validation, settings, git remotes, and HTTP
handling against a tiny stdlib server that returns canned JSON (no controller needed)."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import git
import pytest

from paas.cli import settings as cli_settings
from paas.cli.base import NO_APP, Context
from paas.cli.builds import parse_procfile_entries
from paas.cli.envfile import format_env, parse_assignments, parse_env, parse_keys
from paas.cli.errors import CLIError, flatten_field_errors
from paas.cli.gitutil import app_from_git_url
from paas.cli.main import build_parser, main
from paas.cli.ps import parse_scale
from paas.cli.releases import parse_version

GIT_URL = "ssh://git@paas.example:2222/myapp.git"
APP = {
    "name": "myapp",
    "owner": "alice",
    "created_at": "2024-05-01T12:00:00+00:00",
    "git_url": GIT_URL,
    "release": 2,
    "domains": [],
}


def release(version: int, summary: str = "alice set A", failed: bool = False) -> dict[str, Any]:
    return {
        "version": version,
        "build_id": None,
        "image": None,
        "config": {"A": "1"},
        "summary": summary,
        "created_by": "alice",
        "created_at": "2024-05-01T12:00:00Z",
        "failed": failed,
        "failure_reason": "canaries never became healthy" if failed else None,
    }


# --- a canned controller ------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeController:
    url: str = ""
    # (method, path) -> (status, body); a callable body gets the request handler and answers itself.
    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def route(self, method: str, path: str, status: int, body: Any = None) -> None:
        self.routes[(method, path)] = (status, body)

    def last(self, method: str, path: str) -> Recorded:
        matches = [r for r in self.requests if r.method == method and r.path == path]
        assert matches, f"no {method} {path} among {[(r.method, r.path) for r in self.requests]}"
        return matches[-1]


def _handler(controller: FakeController) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            controller.requests.append(
                Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            status, body = controller.routes.get(
                (self.command, parts.path), (404, {"code": 404, "status": "Not Found", "message": "No such route"})
            )
            if callable(body):
                # A route that writes its own answer (streams, answers that change between calls).
                body(self)
                return
            if isinstance(body, str):
                payload, kind = body.encode(), "text/html"
            else:
                payload, kind = (b"" if body is None else json.dumps(body).encode()), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated PAAS_HOME and working directory; returns the working directory."""
    home = tmp_path / "paas-home"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("PAAS_HOME", str(home))
    monkeypatch.delenv("PAAS_URL", raising=False)
    monkeypatch.delenv("PAAS_TOKEN", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def server(env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeController]:
    controller = FakeController()
    httpd = HTTPServer(("127.0.0.1", 0), _handler(controller))
    controller.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    monkeypatch.setenv("PAAS_URL", controller.url)
    monkeypatch.setenv("PAAS_TOKEN", "tok-123")
    try:
        yield controller
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_repo(path: Path, remote: str | None = GIT_URL) -> git.Repo:
    repo = git.Repo.init(path)
    if remote:
        repo.create_remote("paas", remote)
    return repo


def page(results: list[Any], count: int | None = None, per_page: int = 25) -> dict[str, Any]:
    return {"count": len(results) if count is None else count, "page": 1, "per_page": per_page, "results": results}


# --- parsing ------------------------------------------------------------------------------


def test_parser_knows_topic_commands_and_aliases() -> None:
    parser, registry = build_parser()
    args = parser.parse_args(["config:set", "A=1", "B=x=y", "-a", "myapp", "--json"])
    assert (args.command, args.pairs, args.app, args.json) == ("config:set", ["A=1", "B=x=y"], "myapp", True)
    args = parser.parse_args(["builds:create", "img:1", "--procfile", "web: run", "--procfile", "worker: w"])
    assert args.procfile == ["web: run", "worker: w"]
    args = parser.parse_args(["keys:list"])
    assert args.handler is parser.parse_args(["keys"]).handler
    assert parser.parse_args(["releases", "--page", "2", "--per-page", "10"]).per_page == 10
    assert {"apps", "apps:list", "perms", "perms:list", "ps:scale", "auth:whoami"} <= registry.names()


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["help"], ["--help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "config:set" in out and "releases:rollback" in out and "apps (apps:list)" in out
    assert main(["config:set", "--help"]) == 0
    assert "KEY=VALUE" in capsys.readouterr().out
    assert main(["help", "ps:scale"]) == 0
    assert "TYPE=N" in capsys.readouterr().out


def test_unknown_command_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apps:craete"]) == 2
    assert "Did you mean 'apps:create'" in capsys.readouterr().err
    assert main(["releases", "--page", "0"]) == 2
    assert main(["config:set"]) == 2


def test_parse_assignments() -> None:
    assert parse_assignments(["A=1", "B=x=y", "EMPTY="]) == {"A": "1", "B": "x=y", "EMPTY": ""}
    with pytest.raises(CLIError) as info:
        parse_assignments(["A=1", "postgres://user:s3cret@host"])
    assert "Argument 2" in str(info.value) and "s3cret" not in str(info.value)
    with pytest.raises(CLIError) as info:
        parse_assignments(["1BAD=s3cret"])
    assert "s3cret" not in str(info.value)
    with pytest.raises(CLIError, match="more than once"):
        parse_assignments(["A=1", "A=2"])
    assert parse_keys(["A", "B", "A"]) == ["A", "B"]
    with pytest.raises(CLIError):
        parse_keys(["A=1"])


def test_parse_env_file() -> None:
    text = (
        "# comment\n\n"
        "PLAIN=value with # hash\n"
        "export EXPORTED=1\n"
        "SINGLE='it''s'\n"
        "QUOTED='  spaced  '\n"
        'DOUBLE="line1\\nline2 \\"q\\""\n'
        'UNMATCHED="half\n'
        "  INDENTED = x  \n"
        "DUP=first\nDUP=second\n"
    )
    assert parse_env(text) == {
        "PLAIN": "value with # hash",
        "EXPORTED": "1",
        "SINGLE": "it''s",
        "QUOTED": "  spaced  ",
        "DOUBLE": 'line1\nline2 "q"',
        "UNMATCHED": '"half',
        "INDENTED": "x",
        "DUP": "second",
    }
    with pytest.raises(CLIError) as info:
        parse_env("A=1\nnot a pair s3cret\n", "my.env")
    assert "my.env line 2" in str(info.value) and "s3cret" not in str(info.value)


def test_env_format_round_trips() -> None:
    values = {
        "URL": "postgres://u:p@h:5432/db?x=1",
        "SPACES": "  a b  ",
        "QUOTES": "'single' and \"double\"",
        "MULTI": "a\nb\r\n\tc\\n",
        "EMPTY": "",
        "HASH": "a #b",
    }
    text = format_env(values)
    assert text.splitlines()[0].startswith("EMPTY=")
    assert "URL=postgres://u:p@h:5432/db?x=1\n" in text
    assert parse_env(text) == values


def test_other_local_parsers() -> None:
    assert parse_version("v3") == parse_version("3") == parse_version("V3") == 3
    for bad in ("v0", "x3", "", "3.1"):
        with pytest.raises(CLIError):
            parse_version(bad)
    assert parse_scale(["web=3", "worker=0"]) == {"web": 3, "worker": 0}
    for bad in (["web"], ["web=-1"], ["web=x"], ["web=1", "web=2"]):
        with pytest.raises(CLIError):
            parse_scale(bad)
    assert parse_procfile_entries(["web: python -m http.server 8000", "worker:run"]) == {
        "web": "python -m http.server 8000",
        "worker": "run",
    }
    for bad in (["web"], ["web:"], [": cmd"], ["a b: c"]):
        with pytest.raises(CLIError):
            parse_procfile_entries(bad)


def test_flatten_field_errors() -> None:
    errors = {"json": {"name": ["Invalid name.", "Too long."], "procfile": {"web": ["bad"]}}, "query": {"page": ["x"]}}
    assert flatten_field_errors(errors) == [
        "name: Invalid name.; Too long.",
        "procfile.web: bad",
        "page: x",
    ]


# --- git remote inference -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url, app",
    [
        ("ssh://git@host:2222/myapp.git", "myapp"),
        ("ssh://git@host:2222/myapp", "myapp"),
        ("ssh://git@host/path/to/myapp.git/", "myapp"),
        ("git@host:myapp.git", "myapp"),
        ("ssh://git@host:2222/", None),
    ],
)
def test_app_from_git_url(url: str, app: str | None) -> None:
    assert app_from_git_url(url) == app


def test_app_inferred_from_paas_remote(env: Path) -> None:
    make_repo(env)
    sub = env / "src" / "deep"
    sub.mkdir(parents=True)
    parser, _ = build_parser()
    ref = Context(cwd=sub).app_ref(parser.parse_args(["apps:info"]))
    assert (ref.name, ref.from_remote) == ("myapp", True)
    ref = Context(cwd=sub).app_ref(parser.parse_args(["apps:info", "-a", "other"]))
    assert (ref.name, ref.from_remote) == ("other", False)


def test_no_app_is_a_clear_error(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_repo(env, remote=None)
    monkeypatch.setenv("PAAS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PAAS_TOKEN", "t")
    assert main(["config"]) == 1
    assert capsys.readouterr().err.strip() == f"Error: {NO_APP}"


# --- settings -----------------------------------------------------------------------------


def test_settings_file_round_trip_and_overrides(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli_settings.load_file() == cli_settings.Settings()
    path = cli_settings.save_file(cli_settings.Settings(url="http://c:8000", token="secret", username="alice"))
    assert path == Path(os.environ["PAAS_HOME"]) / "client.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = cli_settings.load_file()
    assert stored == cli_settings.Settings(url="http://c:8000", token="secret", username="alice")
    assert cli_settings.effective(stored).token == "secret"
    monkeypatch.setenv("PAAS_URL", "other:9000/")
    monkeypatch.setenv("PAAS_TOKEN", "env-token")
    assert cli_settings.effective(stored) == cli_settings.Settings("http://other:9000", "env-token", "alice")
    path.write_text("{not json")
    with pytest.raises(CLIError, match="not valid JSON"):
        cli_settings.load_file()


def test_not_logged_in(env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["apps"]) == 1
    assert "No controller URL" in capsys.readouterr().err
    monkeypatch.setenv("PAAS_URL", "http://127.0.0.1:9")
    assert main(["apps"]) == 1
    assert "Not logged in" in capsys.readouterr().err


# --- against the canned controller --------------------------------------------------------


def test_login_stores_url_and_token(
    server: FakeController, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PAAS_URL")
    monkeypatch.delenv("PAAS_TOKEN")
    server.route("POST", "/v1/auth/login", 200, {"username": "alice", "token": "fresh-token"})
    assert main(["auth:login", server.url + "/", "--username", "alice", "--password", "pw"]) == 0
    out = capsys.readouterr().out
    assert "Logged in as alice" in out and "fresh-token" not in out
    request = server.last("POST", "/v1/auth/login")
    assert request.body == {"username": "alice", "password": "pw"}
    assert "authorization" not in request.headers
    path = cli_settings.settings_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": server.url, "token": "fresh-token", "username": "alice"}

    server.route("GET", "/v1/auth/whoami", 200, {"username": "alice", "email": None, "is_admin": False})
    assert main(["auth:whoami"]) == 0
    assert capsys.readouterr().out == "alice\n"
    assert server.last("GET", "/v1/auth/whoami").headers["authorization"] == "Bearer fresh-token"

    server.route("POST", "/v1/auth/logout", 204)
    assert main(["auth:logout"]) == 0
    assert server.last("POST", "/v1/auth/logout").headers["authorization"] == "Bearer fresh-token"
    assert "token" not in json.loads(path.read_text())


def test_lists_as_table_and_raw_json(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    body = page([APP], count=30, per_page=1)
    server.route("GET", "/v1/apps", 200, body)
    assert main(["apps", "--per-page", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "OWNER", "RELEASE", "CREATED"]
    assert out[1].split()[:3] == ["myapp", "alice", "v2"]
    assert "--page 2" in out[-1]
    assert server.last("GET", "/v1/apps").query == {"per_page": ["1"]}
    assert server.last("GET", "/v1/apps").headers["authorization"] == "Bearer tok-123"
    assert main(["apps:list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == body


def test_http_error_rendering(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    server.route(
        "POST",
        "/v1/apps",
        422,
        {
            "code": 422,
            "status": "Unprocessable Entity",
            "message": "Invalid app name",
            "errors": {"json": {"name": ["Must be a DNS label."]}},
        },
    )
    assert main(["apps:create", "Bad_Name"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "Error: Invalid app name\n  name: Must be a DNS label.\n"
    assert captured.out == "Creating Bad_Name... failed\n"

    server.route(
        "GET",
        "/v1/apps",
        422,
        {"code": 422, "status": "Unprocessable Entity", "errors": {"query": {"per_page": ["At most 100."]}}},
    )
    assert main(["apps", "--per-page", "500"]) == 1
    assert capsys.readouterr().err == "Error: Unprocessable Entity\n  per_page: At most 100.\n"

    server.route("GET", "/v1/apps/myapp", 502, "<html>bad gateway</html>")
    assert main(["apps:info", "-a", "myapp"]) == 1
    assert capsys.readouterr().err == "Error: HTTP 502 Bad Gateway\n"

    server.route("GET", "/v1/apps/ghost", 401, {"code": 401, "status": "Unauthorized", "message": "Bad token"})
    assert main(["apps:info", "-a", "ghost"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: Bad token\n") and "auth:login" in err and "tok-123" not in err


def test_connection_refused_names_the_url(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A port nothing listens on: bind one, note it, close it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("PAAS_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PAAS_TOKEN", "t")
    assert main(["apps"]) == 1
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}" in err and "connection refused" in err


def test_config_set_and_unset(server: FakeController, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_repo(env)
    server.route("PATCH", "/v1/apps/myapp/config", 200, {"values": {"A": "1", "B": "x=y"}, "release": release(3)})
    assert main(["config:set", "A=1", "B=x=y"]) == 0
    assert capsys.readouterr().out == "Setting config vars and restarting myapp... done, v3\n"
    assert server.last("PATCH", "/v1/apps/myapp/config").body == {"values": {"A": "1", "B": "x=y"}}

    assert main(["config:unset", "A", "-a", "myapp"]) == 0
    assert "done, v3" in capsys.readouterr().out
    assert server.last("PATCH", "/v1/apps/myapp/config").body == {"values": {"A": None}}

    assert main(["config:set", "A"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err

    server.route("PATCH", "/v1/apps/myapp/config", 200, {"values": {}, "release": release(4, failed=True)})
    assert main(["config:set", "A=2"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "Setting config vars and restarting myapp... failed\n"
    assert captured.err == "Error: v4 failed to deploy: canaries never became healthy\n"


def test_config_show_pull_push(server: FakeController, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = {"B": "two words", "A": "1", "C": "new"}
    server.route("GET", "/v1/apps/myapp/config", 200, {"values": values})
    assert main(["config", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "A=1\nB=two words\nC=new\n"

    dotenv = env / ".env"
    dotenv.write_text("A=local\n# keep me\nB=old")
    assert main(["config:pull", "-a", "myapp"]) == 0
    assert "Added 1 config vars" in capsys.readouterr().out
    assert dotenv.read_text() == "A=local\n# keep me\nB=old\nC=new\n"

    assert main(["config:pull", "-a", "myapp", "--overwrite"]) == 0
    assert parse_env(dotenv.read_text()) == values

    fresh = env / "fresh.env"
    assert main(["config:pull", "-a", "myapp", "--file", str(fresh)]) == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600

    server.route("PATCH", "/v1/apps/myapp/config", 200, {"values": values, "release": release(5)})
    capsys.readouterr()
    assert main(["config:push", "-a", "myapp"]) == 0
    assert server.last("PATCH", "/v1/apps/myapp/config").body == {"values": values}
    assert "done, v5" in capsys.readouterr().out


def test_apps_create_adds_remote_and_destroy_removes_it(
    server: FakeController, env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(env, remote=None)
    server.route("POST", "/v1/apps", 201, APP)
    assert main(["apps:create", "myapp"]) == 0
    assert capsys.readouterr().out == f"Creating myapp... done\nGit remote paas added: {GIT_URL}\n"
    assert repo.remote("paas").url == GIT_URL
    assert server.last("POST", "/v1/apps").body == {"name": "myapp"}

    assert main(["apps:create", "myapp"]) == 0
    assert "already exists" in capsys.readouterr().out

    server.route("DELETE", "/v1/apps/myapp", 204)
    monkeypatch.setattr("builtins.input", lambda prompt: "wrong")
    assert main(["apps:destroy"]) == 1
    assert "did not match" in capsys.readouterr().err
    assert not [r for r in server.requests if r.method == "DELETE"]

    monkeypatch.setattr("builtins.input", lambda prompt: "myapp")
    assert main(["apps:destroy"]) == 0
    assert "Destroying myapp... done\nGit remote paas removed\n" in capsys.readouterr().out
    assert "paas" not in [r.name for r in git.Repo(env).remotes]

    assert main(["apps:destroy", "-a", "myapp", "--confirm", "other"]) == 1
    assert len([r for r in server.requests if r.method == "DELETE"]) == 1


def test_rollback_and_release_info(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    server.route("POST", "/v1/apps/myapp/releases/rollback", 201, release(4, "alice rolled back to v2"))
    assert main(["releases:rollback", "v2", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "Rolling back myapp to v2... done, v4\n"
    assert server.last("POST", "/v1/apps/myapp/releases/rollback").body == {"version": 2}
    assert main(["releases:rollback", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "Rolling back myapp... done, v4 (back to v2)\n"
    assert server.last("POST", "/v1/apps/myapp/releases/rollback").body == {}

    server.route("GET", "/v1/apps/myapp/releases/3", 200, release(3))
    assert main(["releases:info", "v3", "-a", "myapp"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("=== myapp release v3\n") and "A=1" in out
    assert server.last("GET", "/v1/apps/myapp/releases/3").query == {}
    assert main(["releases:info", "v3", "--reveal", "-a", "myapp"]) == 0
    assert server.last("GET", "/v1/apps/myapp/releases/3").query == {"reveal": ["true"]}


DIFF = {
    "app": "myapp", "from_version": 3, "to_version": 5, "values_shown": False,
    "config": [{"name": "DATABASE_URL", "kind": "changed", "before": "*****", "after": "*****"},
               {"name": "NEW", "kind": "added", "before": None, "after": "*****"}],
    "build": {"before_build": "b1", "after_build": "b2", "before_image": "reg/myapp:b1", "after_image": "reg/myapp:b2",
              "before_git_sha": "a6b2426" + "0" * 33, "after_git_sha": "9f01c2d" + "1" * 33,
              "commit_range": "a6b2426..9f01c2d"},
    "procfile": [{"name": "worker", "kind": "added", "before": None, "after": "celery worker"}],
    "healthchecks": [], "not_recorded": ["formation", "limits"],
}


def test_release_diff_and_release_info_show_what_changed(
    server: FakeController, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("GET", "/v1/apps/myapp/releases/3/diff", 200, DIFF)
    assert main(["releases:diff", "v3", "5", "-a", "myapp"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("=== myapp v3 -> v5\n")
    assert "~ DATABASE_URL (value changed)\n+ NEW=*****\n" in out
    assert "Build b1 -> b2 (a6b2426..9f01c2d)" in out and "+ worker: celery worker" in out
    assert "Formation and limits are not recorded by these releases" in out
    assert server.last("GET", "/v1/apps/myapp/releases/3/diff").query == {"to": ["5"]}
    assert main(["releases:diff", "3", "--show-values", "--json", "-a", "myapp"]) == 0
    assert json.loads(capsys.readouterr().out)["build"]["commit_range"] == "a6b2426..9f01c2d"
    assert server.last("GET", "/v1/apps/myapp/releases/3/diff").query == {"show_values": ["true"]}
    assert main(["releases:diff", "v3", "vx", "-a", "myapp"]) == 1
    assert "Invalid release version" in capsys.readouterr().err

    server.route("GET", "/v1/apps/myapp/releases/5", 200, release(5))
    server.route("GET", "/v1/apps/myapp/releases/5/diff", 200, DIFF)
    assert main(["releases:info", "v5", "--reveal", "-a", "myapp"]) == 0
    out = capsys.readouterr().out
    assert "--- Changes since v3\n" in out and "+ NEW=*****" in out
    assert server.last("GET", "/v1/apps/myapp/releases/5/diff").query == {"show_values": ["true"]}
    server.route("GET", "/v1/apps/myapp/releases/5/diff", 404, {"code": 404, "message": "Release v4 of myapp not found"})
    assert main(["releases:info", "v5", "-a", "myapp"]) == 0  # a controller without diffs: the release alone
    assert "Changes since" not in capsys.readouterr().out


def test_scale_and_builds_create(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    formation = {"processes": [{"type": "web", "quantity": 3, "memory": None, "cpu": None}]}
    server.route("PATCH", "/v1/apps/myapp/formation", 200, formation)
    web = {"type": "web", "release": 2, "state": "running", "health": "passing", "canary": False}
    server.route("GET", "/v1/apps/myapp/ps", 200, {"instances": [{**web, "id": f"w{i}"} for i in range(3)]})
    assert main(["ps:scale", "web=3", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "Scaling myapp processes... done, now web=3\n"
    assert server.last("PATCH", "/v1/apps/myapp/formation").body == {"quantities": {"web": 3}}

    server.route("POST", "/v1/apps/myapp/builds", 201, {"build": {"id": "b1"}, "release": release(6)})
    assert main(["builds:create", "reg:5000/myapp:1", "--procfile", "web: serve", "-a", "myapp"]) == 0
    assert capsys.readouterr().out == "Deploying reg:5000/myapp:1 to myapp... done, v6\n"
    assert server.last("POST", "/v1/apps/myapp/builds").body == {
        "image": "reg:5000/myapp:1",
        "procfile": {"web": "serve"},
    }


def test_path_segments_are_quoted(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    server.route("DELETE", "/v1/apps/myapp/perms/a%2Fb", 204)
    assert main(["perms:delete", "a/b", "-a", "myapp"]) == 0
    assert server.requests[-1].path == "/v1/apps/myapp/perms/a%2Fb"


def test_register_prompts_for_missing_fields(
    server: FakeController, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PAAS_TOKEN")
    answers = iter(["bob", "bob@example.com"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt: "pw")
    user = {"username": "bob", "email": "bob@example.com", "is_admin": False, "created_at": "", "token": "t-bob"}
    server.route("POST", "/v1/auth/register", 201, user)
    assert main(["auth:register"]) == 0
    assert server.last("POST", "/v1/auth/register").body == {
        "username": "bob",
        "password": "pw",
        "email": "bob@example.com",
    }
    assert cli_settings.load_file().token == "t-bob"
    assert "t-bob" not in capsys.readouterr().out
    passwords = iter(["pw", "typo"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(passwords))
    assert main(["auth:register", "--username", "carol"]) == 1
    assert "do not match" in capsys.readouterr().err


def test_keys_add(
    server: FakeController, env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(env))
    assert main(["keys:add"]) == 1
    assert "No SSH public key found" in capsys.readouterr().err
    ssh = env / ".ssh"
    ssh.mkdir()
    (ssh / "id_rsa.pub").write_text("ssh-rsa AAAA alice@laptop\n")
    (ssh / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n")
    server.route("POST", "/v1/keys", 201, {"name": "laptop", "fingerprint": "SHA256:x", "public": "ssh-rsa AAAA"})
    assert main(["keys:add", "--name", "laptop"]) == 0
    assert server.last("POST", "/v1/keys").body == {"public": "ssh-rsa AAAA alice@laptop", "name": "laptop"}
    assert "done, added as laptop" in capsys.readouterr().out
    assert main(["keys:add", str(ssh / "id_ed25519")]) == 1
    assert "private key" in capsys.readouterr().err


def test_logout_when_revocation_fails_still_forgets_token(
    server: FakeController, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PAAS_TOKEN")
    cli_settings.save_file(cli_settings.Settings(url=server.url, token="stored", username="alice"))
    server.route("POST", "/v1/auth/logout", 500, {"code": 500, "status": "Internal Server Error", "message": "boom"})
    assert main(["auth:logout"]) == 1
    assert "could not be revoked" in capsys.readouterr().err
    assert cli_settings.load_file() == cli_settings.Settings(url=server.url)


def test_auth_tokens_lists_and_revokes(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = [
        {"id": "aaaa11112222", "created_at": "2024-05-01T12:00:00Z", "expires_at": "2024-05-31T12:00:00Z",
         "current": False},
        {"id": "bbbb33334444", "created_at": "2024-05-02T12:00:00Z", "expires_at": "2024-06-01T12:00:00Z",
         "current": True},
    ]
    server.route("GET", "/v1/auth/tokens", 200, tokens)
    assert main(["auth:tokens"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "CREATED", "EXPIRES"]
    assert out[1].startswith("aaaa11112222") and out[2].startswith("bbbb33334444") and "(this one)" in out[2]
    assert main(["auth:tokens", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == tokens
    server.route("DELETE", "/v1/auth/tokens/aaaa11112222", 204)
    assert main(["auth:tokens:revoke", "aaaa11112222"]) == 0
    assert capsys.readouterr().out == "Revoked token aaaa11112222\n"
    assert server.last("DELETE", "/v1/auth/tokens/aaaa11112222") is not None


def test_maintenance_commands(server: FakeController, capsys: pytest.CaptureFixture[str]) -> None:
    server.route("GET", "/v1/apps/myapp/maintenance", 200, {"enabled": True})
    assert main(["maintenance", "-a", "myapp"]) == 0
    assert capsys.readouterr().out.strip() == "myapp: maintenance on"
    server.route("PUT", "/v1/apps/myapp/maintenance", 200, {"enabled": False})
    assert main(["maintenance:off", "-a", "myapp"]) == 0
    assert server.last("PUT", "/v1/apps/myapp/maintenance").body == {"enabled": False}
    assert main(["maintenance:on", "-a", "myapp"]) == 0
    assert server.last("PUT", "/v1/apps/myapp/maintenance").body == {"enabled": True}


def test_open_prints_the_url_and_opens_it_only_on_a_desktop(
    server: FakeController, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("GET", "/v1/apps/myapp", 200, {**APP, "web_url": "http://myapp.paas.test:8080/"})
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["open", "-a", "myapp"]) == 0
    assert capsys.readouterr().out.strip() == "http://myapp.paas.test:8080/"
    assert opened == []
    monkeypatch.setenv("DISPLAY", ":0")
    assert main(["open", "-a", "myapp"]) == 0
    assert opened == ["http://myapp.paas.test:8080/"]
    assert main(["open", "-a", "myapp", "--no-browser"]) == 0
    assert opened == ["http://myapp.paas.test:8080/"]
