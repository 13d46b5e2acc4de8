"""In-process API client over the real Consul."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paas.api import create_app
from tests.doubles.nomad_api import NomadApiDouble

from ..conftest import ApiUser, unique


class Api:
    """The Flask test client, authenticated as one user."""

    def __init__(self, client, user: ApiUser | None):
        self.client = client
        self.user = user

    def as_user(self, user: ApiUser | None) -> Api:
        return Api(self.client, user)

    def call(self, method: str, path: str, json=None, **kwargs):
        headers = self.user.headers if self.user else {}
        # No supervisor runs in-process: never wait for deploys here (tests/e2e cover them).
        query = {"wait": "false", **kwargs.pop("query_string", {})}
        return self.client.open(path, method=method, json=json, headers=headers, query_string=query, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.call("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def new_app(self, prefix: str = "app") -> str:
        name = unique(prefix)
        response = self.post("/v1/apps", json={"name": name})
        assert response.status_code == 201, response.get_json()
        return name


@pytest.fixture(scope="session")
def flask_app(settings, services):
    return create_app(settings, services)


@pytest.fixture
def api(flask_app, make_user) -> Api:
    return Api(flask_app.test_client(), make_user())


@pytest.fixture
def double() -> Iterator[NomadApiDouble]:
    """A fresh Nomad API double whose checks pass."""
    with NomadApiDouble(checks="passing") as server:
        yield server
