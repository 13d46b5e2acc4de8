"""Config changes make releases; rollback is a new release; bad input changes nothing."""

import pytest


def versions(api, name, **params):
    body = api.get(f"/v1/apps/{name}/releases", query_string=params).get_json()
    return [r["version"] for r in body["results"]]


def deploy_image(api, name) -> None:
    """A build (of this app's own repository), so that later releases have something to run."""
    created = api.post(f"/v1/apps/{name}/builds", json={"image": f"127.0.0.1:5000/{name}:b1"})
    assert created.status_code == 201, created.get_json()


def test_config_release_rollback_story(api):
    name = api.new_app()
    user = api.user.username
    deploy_image(api, name)
    assert api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "1"}}).get_json()["release"]["version"] == 3
    assert api.patch(f"/v1/apps/{name}/config", json={"values": {"B": "2"}}).get_json()["release"]["version"] == 4
    listed = api.get(f"/v1/apps/{name}/releases").get_json()["results"]
    assert [(r["version"], r["summary"]) for r in listed] == [
        (4, f"{user} set B"),
        (3, f"{user} set A"),
        (2, f"{user} deployed 127.0.0.1:5000/{name}:b1"),
        (1, f"{user} created initial release"),
    ]
    rolled = api.post(f"/v1/apps/{name}/releases/rollback", json={"version": 3})
    assert rolled.status_code == 201
    assert rolled.get_json()["version"] == 5
    assert rolled.get_json()["config"] == {"A": "*****"}  # release history masks values
    assert rolled.get_json()["summary"] == f"{user} rolled back to v3"
    assert api.get(f"/v1/apps/{name}/config").get_json()["values"] == {"A": "1"}
    unset = api.patch(f"/v1/apps/{name}/config", json={"values": {"A": None}}).get_json()
    assert unset["release"]["version"] == 6 and unset["values"] == {}
    assert api.get(f"/v1/apps/{name}/releases/v5", query_string={"reveal": "true"}).get_json()["config"] == {"A": "1"}
    assert api.get(f"/v1/apps/{name}/releases/3").get_json()["summary"] == f"{user} set A"


def test_rollback_defaults_to_the_previous_release(api):
    name = api.new_app()
    deploy_image(api, name)
    api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "1"}})
    api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "2"}})
    rolled = api.post(f"/v1/apps/{name}/releases/rollback", json={}, query_string={"reveal": "true"}).get_json()
    assert rolled["version"] == 5 and rolled["config"] == {"A": "1"}


def test_rollback_keeps_the_build_of_the_target(api):
    name = api.new_app()
    api.post(f"/v1/apps/{name}/builds", json={"image": f"127.0.0.1:5000/{name}:one"})
    api.post(f"/v1/apps/{name}/builds", json={"image": f"127.0.0.1:5000/{name}:two"})
    # (By version: these images do not exist, so neither release deploys, and a rollback without
    # one looks for the last release that deployed; that rule has its own tests.)
    rolled = api.post(f"/v1/apps/{name}/releases/rollback", json={"version": 2}).get_json()
    assert rolled["image"] == f"127.0.0.1:5000/{name}:one", rolled


@pytest.mark.parametrize("target", [99, 4])
def test_rollback_to_a_missing_or_current_version_changes_nothing(api, target):
    name = api.new_app()
    for value in "123":
        api.patch(f"/v1/apps/{name}/config", json={"values": {"A": value}})
    response = api.post(f"/v1/apps/{name}/releases/rollback", json={"version": target})
    assert response.status_code in (400, 404)
    assert f"v{target}" in response.get_json()["message"]
    assert versions(api, name)[0] == 4


def test_rollback_of_an_app_with_only_v1_is_refused(api):
    name = api.new_app()
    response = api.post(f"/v1/apps/{name}/releases/rollback", json={})
    assert response.status_code == 400
    assert versions(api, name) == [1]


@pytest.mark.parametrize(
    "values",
    [
        {"lower": "x"},
        {"1ABC": "x"},
        {"A-B": "x"},
        {"": "x"},
        {"A": "x" * (32 * 1024 + 1)},
        {"NOT_SET": None},
        {},
    ],
    ids=["lowercase", "leading-digit", "hyphen", "empty-key", "oversized", "unset-missing", "empty"],
)
def test_bad_config_changes_nothing(api, values):
    name = api.new_app()
    api.patch(f"/v1/apps/{name}/config", json={"values": {"KEEP": "me"}})
    response = api.patch(f"/v1/apps/{name}/config", json={"values": values})
    assert response.status_code == 400
    assert response.get_json()["message"]
    assert api.get(f"/v1/apps/{name}/config").get_json()["values"] == {"KEEP": "me"}
    assert versions(api, name)[0] == 2


def test_error_messages_never_contain_config_values(api):
    name = api.new_app()
    secret = "s3cr3t-" + "y" * 40_000
    body = api.patch(f"/v1/apps/{name}/config", json={"values": {"TOKEN": secret}}).get_data(as_text=True)
    assert "s3cr3t" not in body and "TOKEN" in body


def test_value_at_the_size_limit_is_accepted(api):
    name = api.new_app()
    value = "v" * (32 * 1024)
    response = api.patch(f"/v1/apps/{name}/config", json={"values": {"BIG": value}})
    assert response.status_code == 200
    assert api.get(f"/v1/apps/{name}/config").get_json()["values"]["BIG"] == value


def test_setting_the_same_value_makes_no_release(api):
    name = api.new_app()
    api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "1"}})
    response = api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "1"}}).get_json()
    assert response["release"] is None
    assert versions(api, name)[0] == 2


def test_releases_are_paginated_newest_first(api):
    name = api.new_app()
    for i in range(29):
        api.patch(f"/v1/apps/{name}/config", json={"values": {"N": str(i)}})
    page = api.get(f"/v1/apps/{name}/releases", query_string={"page": 2, "per_page": 10}).get_json()
    assert page["count"] == 30
    assert [r["version"] for r in page["results"]] == list(range(20, 10, -1))
    last = api.get(f"/v1/apps/{name}/releases", query_string={"page": 3, "per_page": 10}).get_json()
    assert [r["version"] for r in last["results"]] == list(range(10, 0, -1))
    beyond = api.get(f"/v1/apps/{name}/releases", query_string={"page": 9, "per_page": 10}).get_json()
    assert beyond["results"] == []
    assert api.get(f"/v1/apps/{name}/releases", query_string={"per_page": 1000}).status_code == 422


def test_unknown_release_and_garbage_are_404(api):
    name = api.new_app()
    assert api.get(f"/v1/apps/{name}/releases/v7").status_code == 404
    # Only vN or N routes to a release (so /releases/rollback never looks like one).
    garbage = api.get(f"/v1/apps/{name}/releases/latest")
    assert garbage.status_code == 404 and garbage.get_json()["code"] == 404
