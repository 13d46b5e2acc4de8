"""The log history with the real Consul-backed services: removed with the app."""

from __future__ import annotations

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
