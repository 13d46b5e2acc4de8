"""The log history's store and rules, as a user of `paas logs` and `drains:add` would notice them."""

from __future__ import annotations

import json

import pytest

from paas.domain.errors import ValidationError
from paas.domain.logs import DrainPolicy, LogLine, parse_drain_url, parse_since, router_line
from paas.logstore.sqlite import SqliteLogStore


@pytest.fixture
def store(tmp_path):
    return SqliteLogStore(tmp_path / "logs" / "lines.sqlite3", max_lines=100, max_age=3600)


def line(ts: float, source: str = "web.1a2b3c", text: str = "hello", app: str = "shop") -> LogLine:
    return LogLine(ts=ts, app=app, source=source, type=source.split(".")[0], text=text)


def test_lines_of_several_instances_come_back_in_time_order_limited_in_total(store):
    for i in range(30):
        store.append([line(1000 + i * 3, "web.aaaaaa", f"a{i}")], origin="a")
        store.append([line(1001 + i * 3, "web.bbbbbb", f"b{i}")], origin="b")
        store.append([line(1002 + i * 3, "worker.cccccc", f"c{i}")], origin="c")
    got = [entry for _, entry in store.read("shop", 50)]
    assert len(got) == 50
    assert [e.ts for e in got] == sorted(e.ts for e in got)
    assert got[-1].text == "c29"  # the newest lines, not the oldest
    assert {e.source for e in got} == {"web.aaaaaa", "web.bbbbbb", "worker.cccccc"}
    assert {e.type for _, e in store.read("shop", 100, types=("worker",))} == {"worker"}
    assert all(e.source == "web.bbbbbb" for _, e in store.read("shop", 100, sources=("web.bbbbbb",)))
    assert all(e.ts >= 1080 for _, e in store.read("shop", 100, since=1080))


def test_a_resumed_collector_stores_no_line_twice_and_reports_only_new_ones(store):
    first = [line(1.0, text="one"), line(2.0, text="two")]
    assert store.append(first, origin="c1") == first
    assert store.append([line(2.0, text="two"), line(3.0, text="three")], origin="c1") == [line(3.0, text="three")]
    assert store.last_timestamp("shop", "c1") == 3.0
    # Another instance printing the same line at the same moment is a line of its own.
    assert store.append([line(2.0, text="two")], origin="c2") == [line(2.0, text="two")]


def test_the_history_is_bounded_by_count_and_age_and_removed_with_the_app(store):
    now = 100_000.0
    store.append([line(now - 7200, text="too old")], origin="x")
    store.append([line(now - 100 + i * 0.1, text=f"n{i}") for i in range(150)], origin="x")
    store.append([line(now, app="other")], origin="y")
    store.prune("shop", now=now)
    kept = [e.text for _, e in store.read("shop", 1000)]
    assert len(kept) == 100 and "too old" not in kept and kept[-1] == "n149"
    store.remove_app("shop")
    assert store.read("shop", 1000) == [] and len(store.read("other", 10)) == 1


def test_the_history_survives_a_new_store_on_the_same_file_and_follows_by_cursor(tmp_path):
    path = tmp_path / "lines.sqlite3"
    SqliteLogStore(path, 100, 3600).append([line(1.0, text="before restart")], origin="a")
    reopened = SqliteLogStore(path, 100, 3600)
    cursor = reopened.last_id("shop")
    assert [e.text for _, e in reopened.read("shop", 10)] == ["before restart"]
    reopened.append([line(0.5, text="late but new")], origin="b")
    assert [e.text for _, e in reopened.read("shop", 10, after_id=cursor)] == ["late but new"]


def test_a_failed_canarys_lines_are_marked_and_shown_with_timestamp_and_mark(store):
    store.append([line(1764669000.25, "web.dead01", "boom: DATABASE_URL is not set")], origin="c")
    assert store.tag_source("shop", "web.dead01", "failed canary v7") == 1
    (_, shown), = store.read("shop", 10)
    assert shown.render() == "2025-12-02T09:50:00.250000Z web.dead01[failed canary v7]: boom: DATABASE_URL is not set"


def test_an_over_long_line_is_cut(store):
    store.append([line(1.0, text="x" * 100_000)], origin="a")
    (_, stored), = store.read("shop", 1)
    assert len(stored.text) < 9000


def test_a_router_line_names_method_path_status_duration_and_instance_without_the_query():
    raw = json.dumps({"ServiceName": "shop-web@consulcatalog", "RequestMethod": "GET",
                      "RequestPath": "/orders?token=s3cret", "DownstreamStatus": 200, "Duration": 1_500_000,
                      "ServiceURL": "http://172.20.0.5:5000", "StartUTC": "2026-12-02T09:00:00.123456789Z"})
    got = router_line(raw, lambda s: s.removesuffix("-web") if s.endswith("-web") else None,
                      {"172.20.0.5:5000": "web.1a2b3c"}.get)
    assert got.source == "router" and got.app == "shop"
    assert got.text == "GET /orders 200 1.5ms instance=web.1a2b3c"
    assert "s3cret" not in got.render()
    assert router_line(json.dumps({"ServiceName": "dashboard@internal"}), lambda s: None, dict().get) is None
    assert router_line("not json", lambda s: "x", dict().get) is None


def test_since_takes_durations_and_iso_times():
    assert parse_since("10m", now=1000.0) == 400.0
    assert parse_since("2026-12-02T09:00:00Z") == parse_since("2026-12-02T09:00:00+00:00")
    with pytest.raises(ValidationError):
        parse_since("yesterday; rm -rf /")


@pytest.mark.parametrize("url", [
    "ftp://logs.example.com:21", "syslog://logs.example.com", "syslog://logs.example.com:514/path",
    "https://", "https://logs.example.com:99999/", "https://logs.example.com/\nHost: evil",
    "file:///etc/passwd", "gopher://127.0.0.1:8500/", "https://exa mple.com/",
])
def test_malformed_drain_urls_are_refused(url):
    with pytest.raises(ValidationError):
        parse_drain_url(url)


def test_a_drain_url_lists_without_its_credentials():
    drain = parse_drain_url("https://user:tok3n@logs.example.com/ingest?key=s3cret")
    assert drain.masked() == "https://logs.example.com:443/ingest"
    assert parse_drain_url("syslog://logs.example.com:6514").port == 6514


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "192.168.1.1",
                                     "172.17.0.1", "0.0.0.0", "224.0.0.1", "100.64.0.1"])
def test_a_drain_may_not_reach_the_host_or_private_networks(address):
    with pytest.raises(ValidationError):
        DrainPolicy().check_address(address, 514)


def test_an_operator_may_allow_a_network_but_never_the_platforms_own_ports():
    policy = DrainPolicy(allowed_networks=("127.0.0.1/32",), forbidden_ports=frozenset({8500, 5000}))
    policy.check_address("127.0.0.1", 40514)
    with pytest.raises(ValidationError):
        policy.check_address("127.0.0.1", 8500)
    DrainPolicy().check_address("93.184.215.14", 514)  # a public address is fine


# ------------------------------------------------------------------------------ the service
def test_a_followed_log_prints_new_lines_and_ends_when_the_client_goes_away_leaving_no_thread(store):
    import threading

    from paas.services.logs import LogQuery, LogService

    service = LogService(store)
    store.append([line(1.0, text="old")], origin="a")
    before = threading.active_count()
    followed = service.follow("shop", LogQuery(lines=10))
    assert next(followed).text == "old"
    store.append([line(2.0, text="new")], origin="a")
    assert next(item for item in followed if item is not None).text == "new"
    followed.close()  # what gunicorn does when the client's connection is gone
    assert threading.active_count() == before


def test_a_failed_canary_is_marked_and_explained_reusing_the_failure_record(store):
    from paas.domain.deployments import Failure
    from paas.services.logs import LogQuery, LogService

    service = LogService(store, clock=lambda: 50.0)
    store.append([line(10.0, "web.seen01", "boom: DATABASE_URL is not set")], origin="c1")
    service.failed_canary("shop", 7, Failure(reason="web.seen01 exited with code 3", instance="web.seen01",
                                             exit_code=3, last_lines=["boom: DATABASE_URL is not set"]))
    # An instance the collector never saw: its last lines come from the failure record.
    service.failed_canary("shop", 8, Failure(reason="web.gone02 exited with code 1", instance="web.gone02",
                                             exit_code=1, last_lines=["Traceback", "KeyError: 'X'"]))
    shown = [entry.render() for entry in service.read("shop", LogQuery(lines=100))]
    assert sum("web.seen01[failed canary v7]: boom" in s for s in shown) == 1  # marked, not duplicated
    assert any("web.gone02[failed canary v8]: KeyError" in s for s in shown)
    assert any("release: v7 failed: web.seen01 exited with code 3" in s for s in shown)


def test_lines_of_a_failed_canary_stored_after_it_was_marked_carry_the_mark_and_are_not_doubled(store):
    from paas.domain.deployments import Failure
    from paas.services.logs import LogQuery, LogService

    service = LogService(store, clock=lambda: 50.0)
    store.append([line(10.0, "web.late01", "starting")], origin="c1")
    # The deploy (one controller worker) marks it while the collector (another) still reads it.
    service.failed_canary("shop", 9, Failure(reason="web.late01 exited with code 1", instance="web.late01",
                                             exit_code=1, last_lines=["starting", "boom"]))
    store.append([line(10.5, "web.late01", "boom")], origin="c1")
    shown = [entry.render() for entry in service.read("shop", LogQuery(lines=100)) if entry.source == "web.late01"]
    assert sum(": boom" in s for s in shown) == 2  # from the record (collector was late), and its own
    assert all("[failed canary v9]" in s for s in shown)
