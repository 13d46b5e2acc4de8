"""app.json: Dokku-style health checks parsed as hostile input, read from the source without
following links, carried by the build record, and merged into the plan under the app's own
settings (which win). Health checks set before the first build."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from paas.builder import policy
from paas.domain.appjson import MAX_BYTES, AppJson, parse_app_json
from paas.domain.apps import App
from paas.domain.builds import Build
from paas.domain.errors import BuildFailed, ValidationError
from paas.domain.formation import Formation, ProcessSpec
from paas.domain.releases import Release
from paas.domain.scheduler import UpdatePolicy
from paas.services.plans import app_json_overrides, build_plan, declared

DOKKU = {
    "name": "small sharp tool",
    "env": {"SECRET_TOKEN": {"generator": "secret"}},
    "formation": {"web": {"quantity": 1, "size": "standard-1x"}},
    "healthchecks": {
        "web": [
            {"type": "startup", "name": "web check", "description": "ready?", "path": "/health/ready",
             "attempts": 4, "timeout": 2, "wait": 1, "initialDelay": 3},
        ],
        "worker": [{"type": "startup", "name": "worker uptime", "uptime": 5}],
    },
}


def parse(document: object) -> tuple[AppJson, list[str]]:
    return parse_app_json(json.dumps(document))


# ------------------------------------------------------------------ valid files
def test_a_dokku_file_gives_the_web_path_and_mapped_update_settings():
    declared, notes = parse(DOKKU)
    assert declared.healthchecks == {"web": "/health/ready", "worker": None}
    # attempts -> check_failures; initialDelay + attempts * (timeout + wait) -> healthy_deadline,
    # plus the uptime (-> min_healthy_time) so that the instance still has time to start.
    assert declared.update == {"check_failures": 4, "healthy_deadline": 3 + 4 * (2 + 1) + 5.0,
                               "min_healthy_time": 5.0}
    assert notes == []
    UpdatePolicy(**{**UpdatePolicy().__dict__, **declared.update}).validate()


def test_a_path_alone_keeps_the_platform_deadline():
    declared, _ = parse({"healthchecks": {"web": [{"path": "/health"}]}})
    assert declared == AppJson(healthchecks={"web": "/health"}, update={})


def test_dokku_defaults_fill_in_the_deadline_and_zero_means_default():
    declared, _ = parse({"healthchecks": {"web": [{"path": "/h", "wait": 1, "timeout": 0, "attempts": 0}]}})
    assert declared.update == {"healthy_deadline": 3 * (5 + 1.0)}


def test_without_healthchecks_nothing_is_declared_and_other_keys_are_ignored():
    declared, notes = parse({"name": "x", "scripts": {"postdeploy": "rake"}, "addons": ["redis"], "stack": 7})
    assert not declared and notes == []


def test_startup_beats_readiness_and_unsupported_checks_are_noted_not_applied():
    declared, notes = parse({"healthchecks": {"web": [
        {"type": "readiness", "path": "/ready"},
        {"type": "liveness", "path": "/live", "attempts": 50},
        {"type": "startup", "command": ["/app/check.sh"]},
        {"type": "startup", "path": "/started", "port": 8080},
        {"type": "startup", "path": "/up"},
    ], "worker": [{"path": "/w"}]}})
    assert declared.healthchecks == {"web": "/up", "worker": None}
    assert declared.update == {}  # the liveness check's attempts are not taken
    text = "\n".join(notes)
    for expected in ("web[1]: liveness", "web[2]: command", "web[3]: port", "web[0]: only one HTTP path",
                     "worker[0]: HTTP checks apply to the web process type only"):
        assert expected in text


# ------------------------------------------------------------------ hostile files
@pytest.mark.parametrize("document,field", [
    ({"healthchecks": {"web": [{"path": "/h", "attempts": "3"}]}}, "healthchecks.web[0].attempts"),
    ({"healthchecks": {"web": [{"path": "/h", "attempts": 1000}]}}, "healthchecks.web[0].attempts"),
    ({"healthchecks": {"web": [{"path": "/h", "timeout": 1.5}]}}, "healthchecks.web[0].timeout"),
    ({"healthchecks": {"web": [{"path": "/h", "wait": True}]}}, "healthchecks.web[0].wait"),
    ({"healthchecks": {"web": [{"path": "/h", "initialDelay": -1}]}}, "healthchecks.web[0].initialDelay"),
    ({"healthchecks": {"web": [{"path": "/h", "uptime": 10**6}]}}, "healthchecks.web[0].uptime"),
    ({"healthchecks": {"web": [{"path": "health"}]}}, "healthchecks.web[0].path"),
    ({"healthchecks": {"web": [{"path": "/h\n"}]}}, "healthchecks.web[0].path"),
    ({"healthchecks": {"web": [{"path": ["/h"]}]}}, "healthchecks.web[0].path"),
    ({"healthchecks": {"web": [{"path": "/" + "a" * 300}]}}, "healthchecks.web[0].path"),
    ({"healthchecks": {"web": [{"type": "sometimes", "path": "/h"}]}}, "healthchecks.web[0].type"),
    ({"healthchecks": {"web": ["/health"]}}, "healthchecks.web[0]"),
    ({"healthchecks": {"web": {"path": "/health"}}}, "healthchecks.web"),
    ({"healthchecks": {"Web Server": []}}, "healthchecks key 'Web Server'"),
    ({"healthchecks": {"\x1b[2Jweb\n": []}}, "healthchecks key '\\x1b[2Jweb\\n'"),
    ({"healthchecks": ["web"]}, "healthchecks"),
    ({"healthchecks": {f"t{i}": [] for i in range(31)}}, "healthchecks"),
    ({"healthchecks": {"web": [{"uptime": 1}] * 11}}, "healthchecks.web"),
])
def test_wrong_types_and_ranges_name_the_field(document, field):
    with pytest.raises(ValidationError, match=rf"^app\.json: {_re(field)} "):
        parse(document)


def _re(text: str) -> str:
    return re.escape(text)


@pytest.mark.parametrize("text,message", [
    ("{", "not valid JSON"),
    ("", "not valid JSON"),
    ("{'healthchecks': 1}", "not valid JSON"),
    ('{"healthchecks": {"web": [{"path": "/h", "attempts": NaN}]}}', "not valid JSON"),
    ('{"a": ' + "9" * 5000 + "}", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('"web"', "must be a JSON object"),
    ("[" * 50_000 + "]" * 50_000, "larger than|nested too deeply"),
    ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
])
def test_unparsable_files_are_clear_errors(text, message):
    with pytest.raises(ValidationError, match=message):
        parse_app_json(text)


def test_deep_nesting_in_ignored_keys_is_harmless():
    declared, _ = parse_app_json('{"env": ' + "[" * 500 + "]" * 500 + ', "healthchecks": {"web": [{"path": "/h"}]}}')
    assert declared.healthchecks == {"web": "/h"}


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path):
    (tmp_path / "app.json").write_text(json.dumps({"description": "x" * MAX_BYTES}))
    with pytest.raises(BuildFailed, match="larger than 64 KiB"):
        policy.read_app_json(tmp_path)
    with pytest.raises(ValidationError, match="larger than"):
        parse_app_json(json.dumps({"description": "x" * MAX_BYTES}))


def test_a_symlinked_app_json_is_refused_and_its_target_never_read(tmp_path: Path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"healthchecks": {"web": [{"path": "/TOPSECRET"}]}}')
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.json").symlink_to(secret)
    with pytest.raises(BuildFailed, match="app.json is a symlink") as caught:
        policy.read_app_json(app)
    assert "TOPSECRET" not in str(caught.value)


def test_app_json_that_is_a_directory_or_fifo_is_refused(tmp_path: Path):
    (tmp_path / "app.json").mkdir()
    with pytest.raises(BuildFailed, match="app.json"):
        policy.read_app_json(tmp_path)


def test_the_builder_reads_a_real_file_and_turns_errors_into_build_failures(tmp_path: Path):
    assert policy.read_app_json(tmp_path) == (None, [])
    (tmp_path / "app.json").write_text(json.dumps(DOKKU))
    declared, _ = policy.read_app_json(tmp_path)
    assert declared and declared.healthchecks["web"] == "/health/ready"
    (tmp_path / "app.json").write_text('{"healthchecks": {"web": [{"path": "/h", "attempts": "x"}]}}')
    with pytest.raises(BuildFailed, match=r"app\.json: healthchecks\.web\[0\]\.attempts"):
        policy.read_app_json(tmp_path)


# ------------------------------------------------------------------ the build record
def test_the_build_record_carries_app_json_and_reads_old_records():
    declared, _ = parse(DOKKU)
    build = Build(id="b1", app="a", image="img", created_by="u", created_at="t", app_json=declared)
    assert Build.from_dict(json.loads(json.dumps(build.to_dict()))) == build
    old = {k: v for k, v in build.to_dict().items() if k != "app_json"}
    assert Build.from_dict(old).app_json is None


# ------------------------------------------------------------------ merge into the plan
APP = App(name="a", owner="u")
RELEASE = Release(app="a", version=2, summary="s", created_by="u", created_at="t", build_id="b1", image="img:1",
                  procfile={"web": "run", "worker": "work"})


def test_app_json_applies_when_the_app_set_nothing():
    declared, _ = parse(DOKKU)
    plan = build_plan(APP, RELEASE, Formation(app="a"), declared)
    assert plan.process("web").healthcheck == "/health/ready"
    assert plan.process("worker").healthcheck is None
    assert (plan.update.check_failures, plan.update.min_healthy_time) == (4, 5.0)
    assert build_plan(APP, RELEASE, Formation(app="a")).process("web").healthcheck is None


def test_the_apps_own_settings_win_and_the_override_is_said():
    declared, _ = parse(DOKKU)
    formation = Formation(app="a").with_healthchecks({"web": "/mine"}, {"web", "worker"})
    formation = formation.with_update_policy({"check_failures": 9})
    plan = build_plan(APP, RELEASE, formation, declared)
    assert plan.process("web").healthcheck == "/mine"
    assert plan.update.check_failures == 9  # set by the owner
    assert plan.update.min_healthy_time == 5.0  # not set by the owner: app.json's
    notes = "\n".join(app_json_overrides(formation, declared))
    assert "health check of web (/health/ready) is overridden by this app's /mine" in notes
    assert "check_failures (4) is overridden by this app's setting (9)" in notes


def test_clearing_the_apps_setting_brings_app_json_back():
    declared, _ = parse(DOKKU)
    formation = Formation(app="a").with_update_policy({"check_failures": 9}).with_update_policy(
        {"check_failures": None})
    assert formation.update_set == () and formation.update.check_failures == UpdatePolicy().check_failures
    formation = formation.with_healthchecks({"web": "/mine"}, {"web"}).with_healthchecks({"web": None}, {"web"})
    plan = build_plan(APP, RELEASE, formation, declared)
    assert (plan.process("web").healthcheck, plan.update.check_failures) == ("/health/ready", 4)
    assert app_json_overrides(formation, declared) == []


def test_app_json_values_that_conflict_with_the_owners_are_dropped_with_a_note():
    declared, _ = parse({"healthchecks": {"web": [{"path": "/h", "uptime": 30}]}})
    formation = Formation(app="a").with_update_policy({"healthy_deadline": 20})
    plan = build_plan(APP, RELEASE, formation, declared)
    assert (plan.update.min_healthy_time, plan.update.healthy_deadline) == (UpdatePolicy().min_healthy_time, 20)
    assert "ignored" in "\n".join(app_json_overrides(formation, declared))


# ------------------------------------------------------------------ formation: before the first build
def test_a_web_check_can_be_set_before_any_build_and_survives_the_first_one():
    formation = Formation(app="a").with_healthchecks({"web": "/health"}, set())
    assert formation.processes["web"] == ProcessSpec(quantity=1, healthcheck="/health")
    after_build = formation.for_process_types({"web", "worker"})
    assert after_build.processes["web"].healthcheck == "/health"
    plan = build_plan(APP, RELEASE, after_build)
    assert plan.process("web").healthcheck == "/health" and plan.process("web").quantity == 1


def test_other_types_need_a_build_first():
    with pytest.raises(ValidationError, match="only web .* before the first deploy"):
        Formation(app="a").with_healthchecks({"worker": "/x"}, set())
    with pytest.raises(ValidationError, match="not in the current release"):
        Formation(app="a").with_healthchecks({"worker": "/x"}, {"web"})


def test_formations_stored_before_update_set_infer_it_from_non_defaults():
    stored = {"app": "a", "processes": {"web": {"quantity": 2, "memory": None, "cpu": None, "healthcheck": None}},
              "update": {**asdict(UpdatePolicy()), "healthy_deadline": 30.0},
              "restart_token": "x"}
    formation = Formation.from_dict(stored)
    assert formation.update_set == ("healthy_deadline",)
    assert Formation.from_dict(formation.to_dict()) == formation


def test_unknown_update_settings_are_refused():
    with pytest.raises(ValidationError, match="Unknown update setting"):
        Formation(app="a").with_update_policy({"surge": 3})


class DictBuilds:
    """A BuildStore of plain dicts, through the stored form (to_dict/from_dict)."""

    def __init__(self, *builds: Build):
        self.items = {(b.app, b.id): b.to_dict() for b in builds}

    def get(self, app: str, build_id: str) -> Build | None:
        found = self.items.get((app, build_id))
        return Build.from_dict(json.loads(json.dumps(found))) if found else None


def test_declared_finds_the_release_builds_app_json():
    declared_value, _ = parse(DOKKU)
    builds = DictBuilds(Build(id="b1", app="a", image="img:1", created_by="u", created_at="t",
                              app_json=declared_value))
    assert declared(builds, "a", RELEASE) == declared_value
    assert declared(builds, "a", Release(app="a", version=1, summary="s", created_by="u", created_at="t")) is None
    assert declared(builds, "a", None) is None
    plan = build_plan(APP, RELEASE, Formation(app="a"), declared(builds, "a", RELEASE))
    assert plan.process("web").healthcheck == "/health/ready"


def test_the_cli_shows_which_check_is_in_force():
    from paas.cli.healthchecks import describe

    assert describe("web", None, "/health") == "HTTP GET /health (app.json)"
    assert describe("web", "/mine", "/health") == "HTTP GET /mine (overrides app.json's /health)"
    assert describe("web", "/mine", None) == "HTTP GET /mine"
    assert (describe("web", None), describe("worker", None)) == ("TCP connect", "process running")
