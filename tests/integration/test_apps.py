"""Apps: create with v1, info, list, duplicates, bad names, destroy removes every key."""

from ..conftest import unique


def test_create_app_makes_release_v1_and_git_url(api):
    name = api.new_app()
    info = api.get(f"/v1/apps/{name}").get_json()
    assert info["owner"] == api.user.username
    assert info["release"] == 1
    assert info["git_url"].endswith(f"/{name}.git")
    releases = api.get(f"/v1/apps/{name}/releases").get_json()
    assert [r["version"] for r in releases["results"]] == [1]
    assert releases["results"][0]["config"] == {}
    assert "created initial release" in releases["results"][0]["summary"]


def test_app_name_is_generated_when_omitted(api):
    response = api.post("/v1/apps", json={})
    assert response.status_code == 201
    name = response.get_json()["name"]
    assert api.get(f"/v1/apps/{name}").status_code == 200
    api.delete(f"/v1/apps/{name}")


def test_duplicate_app_is_refused_and_the_original_is_untouched(api, make_user):
    name = api.new_app()
    api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "1"}})
    other = api.as_user(make_user())
    for client in (api, other):
        response = client.post("/v1/apps", json={"name": name})
        assert response.status_code == 409
        assert "already exists" in response.get_json()["message"]
    info = api.get(f"/v1/apps/{name}").get_json()
    assert info["owner"] == api.user.username and info["release"] == 2


def test_bad_app_names_are_refused_and_create_nothing(api):
    before = api.get("/v1/apps").get_json()["count"]
    for bad in ["ab", "UPPER", "under_score", "-lead", "trail-", "double--hyphen", "9starts-with-digit",
                "x" * 41, "has space", "dots.in.name", "paas", "../etc"]:
        response = api.post("/v1/apps", json={"name": bad})
        assert response.status_code == 400, bad
        body = response.get_json()
        assert body["code"] == 400 and body["message"]
    assert api.get("/v1/apps").get_json()["count"] == before


def test_list_shows_own_apps_with_current_release(api):
    first, second = api.new_app("one"), api.new_app("two")
    api.patch(f"/v1/apps/{second}/config", json={"values": {"X": "1"}})
    listed = {a["name"]: a for a in api.get("/v1/apps").get_json()["results"]}
    assert set(listed) == {first, second}
    assert listed[second]["release"] == 2


def test_destroy_removes_every_key_of_the_app(api, services):
    name = api.new_app()
    api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "1"}})
    api.post(f"/v1/apps/{name}/builds", json={"image": "127.0.0.1:5000/x:1"})
    domain = f"{unique('www')}.example.org"
    assert api.post(f"/v1/apps/{name}/domains", json={"domain": domain}).status_code == 201
    assert api.delete(f"/v1/apps/{name}").status_code == 204
    assert api.get(f"/v1/apps/{name}").status_code == 404
    leftovers = [k for k in services.kv.keys(services.kv.prefix + "/") if name in k or domain in k]
    assert leftovers == []
    # The name and the domain are free again.
    again = api.post("/v1/apps", json={"name": name})
    assert again.status_code == 201
    assert api.post(f"/v1/apps/{name}/domains", json={"domain": domain}).status_code == 201
    assert api.get(f"/v1/apps/{name}/releases").get_json()["count"] == 1
    api.delete(f"/v1/apps/{name}")
