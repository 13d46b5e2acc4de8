"""The log history with the real Consul-backed services: removed with the app."""

from __future__ import annotations

import json

from paas.services.logs import LogQuery

from ..conftest import unique


def test_an_apps_log_history_is_removed_with_the_app(services, make_user):
    user = make_user("logs")
    owner = services.auth.get_user(user.username)
    name = unique("logs")
    services.apps.create(owner, name)
    services.logs.release_line(name, "v2 is live")
    assert [line.text for line in services.logs.read(name, LogQuery())] == ["v2 is live"]
    services.apps.destroy(owner, name)
    services.apps.create(owner, name)  # a new app of the same name starts with no history
    assert services.logs.read(name, LogQuery()) == []
    services.apps.destroy(owner, name)


def _fill(services, name: str) -> None:
    from paas.domain.logs import LogLine

    lines = []
    for i in range(30):  # three web instances and a worker, interleaved in time
        for n, source in enumerate(("web.aaaaaa", "web.bbbbbb", "web.cccccc", "worker.dddddd")):
            lines.append((source, LogLine(1_000_000 + i * 4 + n, name, source, source.split(".")[0], f"{source} {i}")))
    for source in {s for s, _ in lines}:
        services.logs.store.append([line for s, line in lines if s == source], origin=source)


def test_logs_over_the_api_are_the_newest_in_time_order_filtered_and_as_json(api, services):
    name = api.new_app("logs")
    _fill(services, name)
    text = api.get(f"/v1/apps/{name}/logs", query_string={"tail": 50}).get_data(as_text=True).splitlines()
    assert len(text) == 50
    assert text == sorted(text)  # time order across instances: each line starts with its time
    assert text[0].startswith("1970-01-12T13:47:") and text[-1].endswith("worker.dddddd: worker.dddddd 29")
    workers = api.get(f"/v1/apps/{name}/logs", query_string={"type": "worker"}).get_data(as_text=True).splitlines()
    assert len(workers) == 30 and all(" worker.dddddd: " in line for line in workers)
    two = api.get(f"/v1/apps/{name}/logs", query_string={"source": ["web.aaaaaa", "web.cccccc"], "tail": 1000,
                                                         "since": "1970-01-12T13:48:00Z"})
    assert {line.split(" ")[1] for line in two.get_data(as_text=True).splitlines()} == {"web.aaaaaa:", "web.cccccc:"}
    as_json = api.get(f"/v1/apps/{name}/logs", query_string={"tail": 2, "format": "json"})
    assert as_json.mimetype == "application/x-ndjson"
    rows = [json.loads(line) for line in as_json.get_data(as_text=True).splitlines()]
    assert [r["source"] for r in rows] == ["web.cccccc", "worker.dddddd"] and rows[1]["text"] == "worker.dddddd 29"
    for bad in ({"source": "web.1a2b3c\n"}, {"type": "Web;rm"}, {"since": "yesterday"}, {"tail": 10001}):
        assert api.get(f"/v1/apps/{name}/logs", query_string=bad).status_code in (400, 422), bad


def test_a_followed_log_over_the_api_streams_new_lines_and_ends_with_the_client(api, services):
    import threading

    from paas.domain.logs import LogLine

    name = api.new_app("logs")
    before = threading.active_count()
    response = api.get(f"/v1/apps/{name}/logs", query_string={"follow": "true", "tail": 0}, buffered=False)
    body = iter(response.response)
    services.logs.store.append([LogLine(2_000_000_000.0, name, "web.aaaaaa", "web", "hello")], origin="a")
    seen = next(chunk for chunk in body if chunk.strip())
    assert seen.decode().strip().endswith("web.aaaaaa: hello")
    response.close()  # the client went away
    assert threading.active_count() == before
