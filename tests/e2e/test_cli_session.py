"""A new user's first session with the real `paas` CLI against the real controller and Consul."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import git
import pytest

from ..conftest import BIN, PASSWORD, unique
from ..keygen import ed25519_public_key


class Cli:
    def __init__(self, url: str, home: Path, cwd: Path):
        self.env = {**os.environ, "PAAS_HOME": str(home), "PAAS_URL": url}
        self.env.pop("PAAS_TOKEN", None)
        self.cwd = cwd

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(BIN / "paas"), *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=60
        )
        if ok:
            assert result.returncode == 0, f"paas {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def json(self, *args: str):
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "myapp"
    git.Repo.init(path)
    return path


def test_new_user_session(controller, tmp_path, repo):
    cli = Cli(controller.url, tmp_path / "home", repo)
    username, app = unique("newbie"), unique("myapp")

    registered = cli.run("auth:register", controller.url, "--username", username, "--password", PASSWORD)
    assert username in registered.stdout
    assert cli.run("auth:whoami").stdout.strip() == username

    key = tmp_path / "id_ed25519.pub"
    key.write_text(ed25519_public_key("newbie@laptop") + "\n")
    assert "newbie@laptop" in cli.run("keys:add", str(key)).stdout

    cli.run("apps:create", app)
    assert git.Repo(repo).remotes.paas.url.endswith(f"/{app}.git")

    # From here on the app comes from the git remote, as for a real user.
    assert "v2" in cli.run("config:set", "A=1").stdout
    assert "v3" in cli.run("config:set", "B=2").stdout
    table = cli.run("releases").stdout.splitlines()
    assert [line.split()[0] for line in table[1:]] == ["v3", "v2", "v1"]
    assert f"{username} set B" in table[1] and f"{username} set A" in table[2]
    assert "created initial release" in table[3]

    # Config-only releases have no build to run: rolling back to one is refused and changes nothing.
    refused = cli.run("releases:rollback", "v2", ok=False)
    assert refused.returncode == 1 and "no build" in refused.stderr
    assert cli.run("config").stdout.split() == ["A=1", "B=2"]
    # Release history masks values unless asked for.
    assert cli.json("releases:info", "v3")["config"] == {"A": "*****", "B": "*****"}

    assert "v4" in cli.run("config:unset", "A").stdout
    assert cli.json("config")["values"] == {"B": "2"}

    cli.run("apps:destroy", "--confirm", app)
    assert app not in cli.run("apps").stdout
    assert "paas" not in [r.name for r in git.Repo(repo).remotes]


def test_cli_errors_are_clear_and_nonzero(controller, tmp_path, repo):
    cli = Cli(controller.url, tmp_path / "home", repo)
    cli.run("auth:register", controller.url, "--username", unique("oops"), "--password", PASSWORD)
    app = unique("oops")
    cli.run("apps:create", app)

    bad_key = cli.run("config:set", "lower=1", ok=False)
    assert bad_key.returncode == 1 and "Invalid config key" in bad_key.stderr

    missing = cli.run("apps:info", "-a", "no-such-app", ok=False)
    assert missing.returncode == 1 and "not found" in missing.stderr

    rollback = cli.run("releases:rollback", "v9", ok=False)
    assert rollback.returncode == 1 and "v9" in rollback.stderr

    wrong_confirm = cli.run("apps:destroy", "--confirm", "other-name", ok=False)
    assert wrong_confirm.returncode == 1
    assert cli.json("apps:info")["name"] == app

    outside = Cli(controller.url, tmp_path / "home", tmp_path)
    no_app = outside.run("config", ok=False)
    assert no_app.returncode == 1 and "-a APP" in no_app.stderr

    down = Cli("http://127.0.0.1:9", tmp_path / "home", repo).run("apps", ok=False)
    assert down.returncode == 1 and "127.0.0.1:9" in down.stderr
    cli.run("apps:destroy", "--confirm", app)


def test_config_push_and_pull_round_trip(controller, tmp_path, repo):
    cli = Cli(controller.url, tmp_path / "home", repo)
    cli.run("auth:register", controller.url, "--username", unique("dotenv"), "--password", PASSWORD)
    app = unique("dotenv")
    cli.run("apps:create", app)
    (repo / ".env").write_text('# settings\nDATABASE_URL=postgres://db/x\nGREETING="hello world"\n\n')
    cli.run("config:push")
    assert cli.json("config")["values"] == {"DATABASE_URL": "postgres://db/x", "GREETING": "hello world"}
    pulled = tmp_path / "pulled.env"
    cli.run("config:pull", "--file", str(pulled))
    cli.run("config:unset", "DATABASE_URL", "GREETING")
    cli.run("config:push", "--file", str(pulled))
    assert cli.json("config")["values"] == {"DATABASE_URL": "postgres://db/x", "GREETING": "hello world"}
    cli.run("apps:destroy", "--confirm", app)


def test_git_remote_points_an_existing_repo_at_an_app(controller, tmp_path, repo):
    cli = Cli(controller.url, tmp_path / "home", tmp_path)
    cli.run("auth:register", controller.url, "--username", unique("remote"), "--password", PASSWORD)
    app = unique("remote")
    cli.run("apps:create", app, "--no-remote")
    in_repo = Cli(controller.url, tmp_path / "home", repo)
    added = in_repo.run("git:remote", "-a", app)
    assert "added" in added.stdout
    assert git.Repo(repo).remotes.paas.url.endswith(f"/{app}.git")
    # Now the app is inferred from the remote.
    assert in_repo.json("apps:info")["name"] == app
    outside = Cli(controller.url, tmp_path / "home", tmp_path).run("git:remote", "-a", app, ok=False)
    assert outside.returncode == 1 and "git" in outside.stderr
    cli.run("apps:destroy", "-a", app, "--confirm", app)


def test_apps_jobspec_shows_what_the_scheduler_runs_with_config_masked(controller, tmp_path, repo):
    cli = Cli(controller.url, tmp_path / "home", repo)
    cli.run("auth:register", controller.url, "--username", unique("spec"), "--password", PASSWORD)
    app = unique("spec")
    cli.run("apps:create", app)
    none_yet = cli.run("apps:jobspec", ok=False)
    assert none_yet.returncode == 1 and "no build" in none_yet.stderr
    cli.run("config:set", "SECRET_TOKEN=s3cr3t-value", "--no-wait")
    cli.run("builds:create", f"127.0.0.1:5000/{app}:1", "--no-wait")
    spec = cli.run("apps:jobspec").stdout
    # The controller of this run uses the docker scheduler: its container specs, unprivileged.
    assert f'"paas.app": "{app}"' in spec and '"cap_drop"' in spec and '"ALL"' in spec
    assert "SECRET_TOKEN" in spec and "s3cr3t-value" not in spec
    cli.run("apps:destroy", "--confirm", app)
