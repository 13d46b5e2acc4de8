"""Release diffs: the pure diff (domain/release_diff.py) and the use case over the in-memory fakes
(who sees values, which releases are compared, unknown versions)."""

from __future__ import annotations

import pytest

from paas.domain.appjson import AppJson
from paas.domain.apps import App
from paas.domain.builds import Build
from paas.domain.errors import NotFound
from paas.domain.formation import Formation, ProcessSpec
from paas.domain.release_diff import ADDED, CHANGED, REMOVED, Change, diff_releases
from paas.domain.releases import MASK, Release
from paas.domain.users import User
from paas.services.releases import ReleaseService
from tests.fakes import FakeAppStore, FakeDeployStateStore, FakeFormationStore, FakeReleaseStore, MemoryKV

OLD_SHA, NEW_SHA = "a6b2426" + "0" * 33, "9f01c2d" + "1" * 33


def release(version: int, **fields) -> Release:
    return Release(app="shop", version=version, summary=f"v{version}", created_by="alice", created_at="t", **fields)


PUSHED = release(3, config={"DATABASE_URL": "postgres://old", "GREETING": "hi", "OLD": "x"}, build_id="b1",
                 image="reg/shop:b1", git_sha=OLD_SHA, procfile={"web": "gunicorn app", "clock": "python clock.py"})
CHANGED_CONFIG = release(4, config={"DATABASE_URL": "postgres://new", "GREETING": "hi", "NEW": "y"}, build_id="b1",
                         image="reg/shop:b1", git_sha=OLD_SHA, procfile=dict(PUSHED.procfile))
PUSHED_AGAIN = release(5, config=dict(CHANGED_CONFIG.config), build_id="b2", image="reg/shop:b2", git_sha=NEW_SHA,
                       procfile={"web": "gunicorn app -w 4", "worker": "celery worker"})


def test_config_changes_are_keys_added_removed_and_changed_with_values_masked():
    diff = diff_releases(PUSHED, CHANGED_CONFIG)
    assert diff.config == (
        Change("DATABASE_URL", CHANGED, MASK, MASK),
        Change("NEW", ADDED, None, MASK),
        Change("OLD", REMOVED, MASK, None),
    )
    assert not diff.values_shown
    assert diff.build is None and diff.procfile == () and diff.healthchecks == ()
    assert "postgres" not in str(diff.to_dict())


def test_values_are_shown_only_when_asked_for():
    diff = diff_releases(PUSHED, CHANGED_CONFIG, show_values=True)
    assert diff.values_shown
    assert diff.config[0] == Change("DATABASE_URL", CHANGED, "postgres://old", "postgres://new")


def test_a_push_shows_the_build_the_commit_range_and_the_procfile_changes():
    diff = diff_releases(CHANGED_CONFIG, PUSHED_AGAIN)
    assert diff.config == ()
    assert diff.build is not None
    assert (diff.build.before_build, diff.build.after_build) == ("b1", "b2")
    assert diff.build.commit_range == "a6b2426..9f01c2d"
    assert diff.to_dict()["build"]["commit_range"] == "a6b2426..9f01c2d"
    assert diff.procfile == (
        Change("clock", REMOVED, "python clock.py", None),
        Change("web", CHANGED, "gunicorn app", "gunicorn app -w 4"),
        Change("worker", ADDED, None, "celery worker"),
    )


def test_across_several_releases_only_the_end_points_count():
    diff = diff_releases(PUSHED, PUSHED_AGAIN)
    assert (diff.from_version, diff.to_version) == (3, 5)
    assert [(c.name, c.kind) for c in diff.config] == [("DATABASE_URL", CHANGED), ("NEW", ADDED), ("OLD", REMOVED)]
    assert diff.build is not None and diff.build.commit_range == "a6b2426..9f01c2d"


def test_builds_without_git_have_no_commit_range():
    image_build = release(6, build_id="b3", image="reg/shop:b3")
    diff = diff_releases(PUSHED_AGAIN, image_build)
    assert diff.build is not None and diff.build.commit_range is None
    assert diff.build.before_git_sha == NEW_SHA and diff.build.after_git_sha is None


def test_the_first_release_is_diffed_against_nothing():
    diff = diff_releases(None, release(1, config={"A": "1"}))
    assert diff.from_version is None
    assert diff.config == (Change("A", ADDED, None, MASK),)


def test_identical_releases_have_an_empty_diff_that_still_says_what_releases_do_not_record():
    diff = diff_releases(PUSHED, PUSHED)
    assert diff.empty
    assert diff.to_dict()["not_recorded"] == ["formation", "limits"]


def test_app_json_health_checks_and_update_settings_are_compared():
    before = AppJson(healthchecks={"web": "/health"}, update={"check_failures": 3})
    after = AppJson(healthchecks={"web": "/ready", "worker": None}, update={"min_healthy_time": 2.5})
    diff = diff_releases(CHANGED_CONFIG, PUSHED_AGAIN, before_checks=before, after_checks=after)
    assert diff.healthchecks == (
        Change("update.check_failures", REMOVED, "3", None),
        Change("update.min_healthy_time", ADDED, None, "2.5s"),
        Change("web", CHANGED, "HTTP GET /health", "HTTP GET /ready"),
        Change("worker", ADDED, None, "no HTTP check"),
    )


# The use case, over the in-memory stores.

ALICE, BOB = User("alice", "hash"), User("bob", "hash")
ADMIN = User("root", "hash", is_admin=True)
SHOP = App(name="shop", owner="alice")


class Builds:
    def __init__(self, *builds: Build):
        self.items = {b.id: b for b in builds}

    def get(self, app: str, build_id: str) -> Build | None:
        return self.items.get(build_id)


@pytest.fixture
def releases() -> ReleaseService:
    kv = MemoryKV()
    FakeAppStore(kv).create(SHOP, release(1), Formation(app="shop"))
    store = FakeReleaseStore(kv)
    for successor in (release(2, config=dict(PUSHED.config)), PUSHED, CHANGED_CONFIG, PUSHED_AGAIN):
        store.append(successor, store.head("shop")[1])
    return ReleaseService(store, FakeDeployStateStore(kv), Builds(
        Build(id="b1", app="shop", image="reg/shop:b1", created_by="alice", created_at="t",
              app_json=AppJson(healthchecks={"web": "/health"})),
        Build(id="b2", app="shop", image="reg/shop:b2", created_by="alice", created_at="t"),
    ))


def test_one_version_is_diffed_against_the_release_before_it(releases: ReleaseService):
    diff = releases.diff(SHOP, ALICE, 4)
    assert (diff.from_version, diff.to_version) == (3, 4)
    assert [c.name for c in diff.config] == ["DATABASE_URL", "NEW", "OLD"]
    first = releases.diff(SHOP, ALICE, 1)
    assert first.from_version is None and first.empty


def test_two_versions_are_diffed_in_the_order_given_and_health_checks_come_from_the_builds(releases):
    diff = releases.diff(SHOP, ALICE, 3, to=5)
    assert diff.build is not None and diff.build.commit_range == "a6b2426..9f01c2d"
    assert diff.healthchecks == (Change("web", REMOVED, "HTTP GET /health", None),)
    backwards = releases.diff(SHOP, ALICE, 5, to=3)
    assert backwards.build is not None and backwards.build.commit_range == "9f01c2d..a6b2426"


def test_values_are_shown_only_on_request_to_users_who_may_read_config(releases: ReleaseService):
    assert releases.diff(SHOP, ALICE, 4).config[0].after == MASK
    assert releases.diff(SHOP, ALICE, 4, show_values=True).config[0].after == "postgres://new"
    assert releases.diff(SHOP, ADMIN, 4, show_values=True).values_shown


def test_someone_who_cannot_see_the_app_gets_no_diff_at_all(releases: ReleaseService):
    with pytest.raises(NotFound, match="App 'shop' not found"):
        releases.diff(SHOP, BOB, 4, show_values=True)


@pytest.mark.parametrize(("version", "to"), [(99, None), (3, 99), (99, 3)])
def test_unknown_versions_are_not_found_naming_the_version(releases: ReleaseService, version, to):
    with pytest.raises(NotFound, match="Release v99 of shop not found"):
        releases.diff(SHOP, ALICE, version, to=to)


def test_a_scale_and_a_limit_between_two_releases_show_in_the_next_releases_diff():
    kv = MemoryKV()
    FakeAppStore(kv).create(SHOP, release(1, formation=Formation(app="shop").describe()), Formation(app="shop"))
    formations = FakeFormationStore(kv)
    service = ReleaseService(FakeReleaseStore(kv), FakeDeployStateStore(kv), formations=formations)
    service.create("shop", ALICE, lambda current: {"summary": "push", "config": {"A": "1"}})
    # Neither ps:scale nor limits:set makes a release; the next release records them.
    scaled, index = formations.get("shop")
    scaled.processes["web"] = ProcessSpec(quantity=3, memory="512M", healthcheck="/health")
    formations.update(scaled, index)
    service.create("shop", ALICE, lambda current: {"summary": "config", "config": {"A": "2"}})

    diff = service.diff(SHOP, ALICE, 3)
    assert diff.not_recorded == ()
    assert diff.formation == (Change("web.healthcheck", ADDED, None, "/health"),
                              Change("web.memory", ADDED, None, "512M"),
                              Change("web.quantity", ADDED, None, "3"))


def test_releases_made_before_formation_snapshots_say_the_formation_is_not_compared():
    before, after = release(2), release(3, formation={"web.quantity": "1"})
    diff = diff_releases(before, after)
    assert diff.formation == () and diff.not_recorded == ("formation", "limits")
