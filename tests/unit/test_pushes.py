"""The push use case (services/pushes.py) without Docker or Consul: what a push says when its
release goes live, fails or is superseded, that the received source never outlives the push,
and what the gateway is told about keys and apps. The services it drives are stand-ins that
answer what the real ones would."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from paas.domain.apps import App
from paas.domain.builds import Build
from paas.domain.deployments import Deployment, Failure, Phase
from paas.domain.errors import BuildFailed, NotFound, TooLarge, ValidationError
from paas.domain.formation import Formation
from paas.domain.keys import SshKey
from paas.domain.releases import Release
from paas.domain.scheduler import UpdatePolicy
from paas.domain.timeline import Mark
from paas.domain.users import User
from paas.services.pushes import PushService

ALICE = User("alice", "hash")
BOB = User("bob", "hash")
APP = App("shop", owner="alice")


def tarball(gzipped: bool = False) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = b"web: python app.py\n"
        info = tarfile.TarInfo("Procfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue()) if gzipped else out.getvalue()


class Builds:
    def __init__(self, fail: bool = False, publish_fails: bool = False):
        self.fail = fail
        self.publish_fails = publish_fails
        self.seen: list[Path] = []
        self.beside: list[bool] = []

    def create_from_source(self, app, actor, source, sink, git_sha=None, received_since=None, publish_beside=False):
        self.seen.append(source)
        self.beside.append(publish_beside)
        assert source.exists(), "the build reads the received source"
        sink("-----> Building")
        if self.fail:
            raise BuildFailed("no buildpack detected")
        build = Build(id="b1", app=app, image=f"reg/{app}:b1", created_by=actor.username, created_at="now",
                      source="git", git_sha=git_sha)
        return build, Release(app=app, version=3, summary="", created_by=actor.username, created_at="now",
                              build_id="b1", image=build.image)

    def published(self, build):
        if self.publish_fails:
            raise BuildFailed("Pushing the image failed: registry unavailable")
        return build


class Deploys:
    def __init__(self, deployment: Deployment | None):
        self.deployment = deployment
        self.waited: list[tuple] = []

    def wait(self, app, version, timeout=None, sink=None):
        self.waited.append((app, version))
        if sink:
            sink("-----> Deployment is running: starting canaries")
        return self.deployment


class Formations:
    def get(self, app):
        return Formation(app=app, update=UpdatePolicy(healthy_deadline=20, drain_time=1, stop_timeout=4))


class Apps:
    def find(self, name):
        return APP if name == APP.name else None

    def app_id(self, name):
        return "abc123" if name == APP.name else None


class Auth:
    def get_user(self, username):
        return {"alice": ALICE, "bob": BOB}.get(username)


class Keys:
    def by_fingerprint(self, fingerprint):
        return SshKey("alice", "laptop", fingerprint, "ssh-ed25519 AAAA") if fingerprint == "SHA256:known" else None


def service(tmp_path: Path, deployment: Deployment | None = None, fail_build: bool = False,
            limit: int = 1 << 20, publish_fails: bool = False) -> PushService:
    return PushService(Builds(fail_build, publish_fails), Deploys(deployment), Formations(), Apps(), Auth(), Keys(),
                       tmp_path / "uploads", limit)


def deployment(phase: Phase, release: int = 3, failure: Failure | None = None) -> Deployment:
    return Deployment(id="d1", app="shop", release=release, phase=phase, failure=failure,
                      description=f"Deployment {phase}")


def push(pushes: PushService, tmp_path: Path) -> tuple[object, list[str], Path]:
    source = pushes.receive(io.BytesIO(tarball()))
    lines: list[str] = []
    return pushes.push("shop", ALICE, source, lines.append, git_sha="a" * 40), lines, source


def test_a_release_that_goes_live_is_no_error_and_waits_as_long_as_the_policy_allows(tmp_path):
    pushes = service(tmp_path, deployment(Phase.RETIRING))
    result, lines, source = push(pushes, tmp_path)
    assert result.error is None and result.release.version == 3 and result.deployment.promoted
    assert lines == ["-----> Building", "-----> Deployment is running: starting canaries"]
    assert pushes.deploys.waited == [("shop", 3)]
    assert pushes.builds.beside == [True]  # the image goes to the registry beside the rollout
    assert not source.exists()


def test_the_push_shows_its_timeline_with_each_phase_and_its_duration(tmp_path):
    live = deployment(Phase.SUCCESSFUL)
    live.timeline = [Mark("start", 100.0, 100.4), Mark("first_check", 100.4, 100.9), Mark("routed", 101.0, None)]
    result, lines, _ = push(service(tmp_path, live), tmp_path)
    shown = lines[lines.index("-----> Timeline") + 1:]
    assert [line.split()[:2] for line in shown] == [["canary", "start"], ["first", "check"], ["first", "request"]]
    assert shown[0].endswith("0.40 s") and shown[1].endswith("0.50 s") and shown[2].endswith("running")


def test_a_registry_push_that_fails_beside_a_rollout_rejects_the_push_and_says_so(tmp_path):
    result, lines, _ = push(service(tmp_path, deployment(Phase.RETIRING), publish_fails=True), tmp_path)
    assert result.error.startswith("v3 runs from this host's copy of the image, which is not in the registry")
    assert " !     Pushing the image failed: registry unavailable" in lines


def test_a_failed_deploy_streams_its_explanation_and_rejects_the_push(tmp_path):
    failure = Failure(reason="web.3f2a1c exited with code 3", instance="web.3f2a1c", exit_code=3,
                      last_lines=["Traceback (most recent call last):", "KeyError: 'DATABASE_URL'"])
    result, lines, _ = push(service(tmp_path, deployment(Phase.FAILED, failure=failure)), tmp_path)
    assert result.error == "v3 failed to deploy: web.3f2a1c exited with code 3"
    shown = [line for line in lines if line.startswith(" !     ")]
    assert shown == [f" !     {line}" for line in failure.explain()]
    assert " !       KeyError: 'DATABASE_URL'" in shown and " !     web.3f2a1c exited with code 3" in shown


def test_a_failed_deploy_without_a_recorded_cause_names_its_description(tmp_path):
    result, lines, _ = push(service(tmp_path, deployment(Phase.FAILED)), tmp_path)
    assert result.error == "v3 failed to deploy: Deployment failed"
    assert not any(line.startswith(" !") for line in lines)


@pytest.mark.parametrize(("superseding", "expected"), [
    (deployment(Phase.STARTING, release=4), "v3 did not go live: v4 superseded it"),
    (deployment(Phase.SUPERSEDED), "v3 did not go live: a newer rollout superseded it"),
])
def test_a_superseded_release_is_no_success(tmp_path, superseding, expected):
    result, _, _ = push(service(tmp_path, superseding), tmp_path)
    assert result.error.startswith(expected)


def test_nothing_to_deploy_is_no_error(tmp_path):
    result, _, _ = push(service(tmp_path, None), tmp_path)
    assert result.error is None and result.deployment is None


def test_a_failed_build_removes_the_source_and_raises(tmp_path):
    pushes = service(tmp_path, fail_build=True)
    source = pushes.receive(io.BytesIO(tarball(gzipped=True)))
    with pytest.raises(BuildFailed):
        pushes.push("shop", ALICE, source, lambda line: None)
    assert pushes.builds.seen == [source] and not source.exists()
    assert pushes.deploys.waited == []


def test_receive_refuses_what_is_not_a_tarball_and_keeps_nothing(tmp_path):
    pushes = service(tmp_path)
    with pytest.raises(ValidationError):
        pushes.receive(io.BytesIO(b"not a tarball" * 100))
    assert list((tmp_path / "uploads").iterdir()) == []


def test_receive_stops_at_the_limit_and_keeps_nothing(tmp_path):
    pushes = service(tmp_path, limit=1000)
    with pytest.raises(TooLarge):
        pushes.receive(io.BytesIO(b"\0" * 5000))
    assert list((tmp_path / "uploads").iterdir()) == []


def test_the_gateway_learns_a_keys_owner_and_nothing_of_an_unknown_key(tmp_path):
    pushes = service(tmp_path)
    assert pushes.key_owner("SHA256:known").username == "alice"
    with pytest.raises(NotFound):
        pushes.key_owner("SHA256:unknown")


def test_the_gateway_learns_an_apps_id_only_for_who_may_push(tmp_path):
    pushes = service(tmp_path)
    access = pushes.access("alice", "shop")
    assert (access.exists, access.allowed, access.app_id) == (True, True, "abc123")
    bob = pushes.access("bob", "shop")
    assert (bob.exists, bob.allowed, bob.app_id) == (True, False, None)
    nobody = pushes.access("mallory", "shop")
    assert (nobody.allowed, nobody.app_id) == (False, None)
    missing = pushes.access("alice", "nope")
    assert (missing.exists, missing.allowed, missing.app_id) == (False, False, None)


def test_a_rollout_is_waited_for_its_whole_healthy_deadline_but_not_its_drain_and_stop():
    assert UpdatePolicy(healthy_deadline=20, drain_time=1, stop_timeout=200).wait_budget() == 50
