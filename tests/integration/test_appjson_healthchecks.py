"""Health checks before the first deploy, over the real API and Consul: web's check is stored in
the formation and survives the first build; other types need a build first; the update
settings the app sets itself are recorded (they beat app.json's) and can be cleared."""

from __future__ import annotations


def test_a_web_check_set_before_any_build_is_kept_in_the_formation(api):
    name = api.new_app()
    response = api.patch(f"/v1/apps/{name}/formation", json={"healthchecks": {"web": "/health"}})
    assert response.status_code == 200, response.get_json()
    formation = api.get(f"/v1/apps/{name}/formation").get_json()
    assert formation["processes"] == [{"type": "web", "quantity": 1, "memory": None, "cpu": None,
                                       "healthcheck": "/health"}]

    # The first build declares web and a worker: web keeps its check, the worker starts at 0.
    built = api.post(f"/v1/apps/{name}/builds", json={"image": "demo:1", "procfile": {"web": "serve",
                                                                                      "worker": "work"}})
    assert built.status_code == 201, built.get_json()
    processes = {p["type"]: p for p in api.get(f"/v1/apps/{name}/formation").get_json()["processes"]}
    assert (processes["web"]["healthcheck"], processes["web"]["quantity"]) == ("/health", 1)
    assert (processes["worker"]["healthcheck"], processes["worker"]["quantity"]) == (None, 0)


def test_other_types_than_web_need_a_build_and_bad_paths_are_refused(api):
    name = api.new_app()
    response = api.patch(f"/v1/apps/{name}/formation", json={"healthchecks": {"worker": "/x"}})
    assert response.status_code == 400
    assert "only web" in response.get_json()["message"] and "first deploy" in response.get_json()["message"]
    assert api.patch(f"/v1/apps/{name}/formation", json={"healthchecks": {"web": "health"}}).status_code in (400, 422)
    assert api.get(f"/v1/apps/{name}/formation").get_json()["processes"] == []
    # Limits still need a build: there is nothing to size yet.
    assert api.patch(f"/v1/apps/{name}/formation", json={"limits": {"web": {"memory": "256M"}}}).status_code == 400


def test_update_settings_the_app_sets_are_recorded_and_null_clears_them(api):
    name = api.new_app()
    response = api.patch(f"/v1/apps/{name}/formation", json={"update": {"check_failures": 7,
                                                                        "healthy_deadline": 30}})
    assert response.status_code == 200, response.get_json()
    body = api.get(f"/v1/apps/{name}/formation").get_json()
    assert body["update"]["check_failures"] == 7 and body["update_set"] == ["check_failures", "healthy_deadline"]
    cleared = api.patch(f"/v1/apps/{name}/formation", json={"update": {"check_failures": None}})
    assert cleared.status_code == 200, cleared.get_json()
    body = api.get(f"/v1/apps/{name}/formation").get_json()
    assert body["update"]["check_failures"] == 3 and body["update_set"] == ["healthy_deadline"]
    assert api.patch(f"/v1/apps/{name}/formation", json={"update": {"check_failures": 1.5}}).status_code == 422


def test_fractional_quantities_are_refused_not_truncated(api):
    # Found by the schemathesis run: 2.5e-42 was accepted as 0 (marshmallow's lenient Integer).
    name = api.new_app()
    api.post(f"/v1/apps/{name}/builds", json={"image": "demo:1"})
    assert api.patch(f"/v1/apps/{name}/formation", json={"quantities": {"web": 2.5e-42}}).status_code == 422
    assert api.patch(f"/v1/apps/{name}/formation", json={"quantities": {"web": 1.5}}).status_code == 422
    assert api.get(f"/v1/apps/{name}/formation").get_json()["processes"][0]["quantity"] == 1
