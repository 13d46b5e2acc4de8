"""Concurrent writers through the real controller (several gunicorn processes) never share,
skip or lose a release version."""

from concurrent.futures import ThreadPoolExecutor

import requests

from ..conftest import unique


def test_twenty_parallel_config_sets_make_releases_v2_to_v21_once_each(controller, make_user):
    user = make_user()
    app = unique("race")
    session = requests.Session()
    assert session.post(f"{controller.url}/v1/apps", json={"name": app}, headers=user.headers).status_code == 201

    def set_var(i: int) -> int:
        response = requests.patch(
            f"{controller.url}/v1/apps/{app}/config",
            json={"values": {f"K{i}": str(i)}},
            headers=user.headers,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.json()["release"]["version"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        returned = list(pool.map(set_var, range(20)))

    assert sorted(returned) == list(range(2, 22))
    listed = session.get(
        f"{controller.url}/v1/apps/{app}/releases", params={"per_page": 100, "reveal": "true"},
        headers=user.headers,
    ).json()
    assert [r["version"] for r in listed["results"]] == list(range(21, 0, -1))
    # No lost update: the last release holds every var, and each release adds exactly one.
    assert listed["results"][0]["config"] == {f"K{i}": str(i) for i in range(20)}
    sizes = [len(r["config"]) for r in reversed(listed["results"])]
    assert sizes == list(range(0, 21))
    session.delete(f"{controller.url}/v1/apps/{app}", headers=user.headers)
