"""Image builds make releases; scaling does not; domains are unique across apps."""

import pytest

from ..conftest import unique


def test_deploying_an_image_records_a_build_and_a_release(api):
    name = api.new_app()
    api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "1"}})
    image = f"127.0.0.1:5000/{name}:v1"
    created = api.post(f"/v1/apps/{name}/builds", json={"image": image})
    assert created.status_code == 201
    build, release = created.get_json()["build"], created.get_json()["release"]
    assert release["version"] == 3 and release["build_id"] == build["id"] and release["config"] == {"A": "*****"}
    assert api.get(f"/v1/apps/{name}/builds/{build['id']}").get_json()["image"] == image
    assert [b["id"] for b in api.get(f"/v1/apps/{name}/builds").get_json()["results"]] == [build["id"]]
    formation = api.get(f"/v1/apps/{name}/formation").get_json()
    assert formation["processes"] == [{"type": "web", "quantity": 1, "memory": None, "cpu": None,
                                       "healthcheck": None}]


def test_scaling_records_quantities_without_a_release(api):
    name = api.new_app()
    api.post(f"/v1/apps/{name}/builds", json={"image": "demo:1", "procfile": {"web": "serve", "worker": "work"}})
    scaled = api.patch(f"/v1/apps/{name}/formation", json={"quantities": {"web": 3, "worker": 2}})
    assert scaled.status_code == 200
    assert {p["type"]: p["quantity"] for p in scaled.get_json()["processes"]} == {"web": 3, "worker": 2}
    assert api.get(f"/v1/apps/{name}").get_json()["release"] == 2


def test_scaling_unknown_types_or_before_any_build_is_400(api):
    name = api.new_app()
    assert api.patch(f"/v1/apps/{name}/formation", json={"quantities": {"web": 1}}).status_code == 400
    api.post(f"/v1/apps/{name}/builds", json={"image": "demo:1"})
    response = api.patch(f"/v1/apps/{name}/formation", json={"quantities": {"clock": 1}})
    assert response.status_code == 400 and "clock" in response.get_json()["message"]
    assert api.patch(f"/v1/apps/{name}/formation", json={"quantities": {"web": -1}}).status_code == 422


@pytest.mark.parametrize("image", ["UPPER/case", "has space", "", "a:b:c"])
def test_bad_image_references_are_refused(api, image):
    name = api.new_app()
    assert api.post(f"/v1/apps/{name}/builds", json={"image": image}).status_code == 400
    assert api.get(f"/v1/apps/{name}").get_json()["release"] == 1


def test_domains_add_list_remove_and_uniqueness(api, make_user):
    name = api.new_app()
    domain = f"{unique('www')}.example.com"
    assert api.post(f"/v1/apps/{name}/domains", json={"domain": domain.upper()}).status_code == 201
    assert [d["domain"] for d in api.get(f"/v1/apps/{name}/domains").get_json()["results"]] == [domain]
    other = api.as_user(make_user())
    other_app = other.new_app()
    taken = other.post(f"/v1/apps/{other_app}/domains", json={"domain": domain})
    assert taken.status_code == 409
    assert api.post(f"/v1/apps/{name}/domains", json={"domain": domain}).status_code == 409
    assert api.delete(f"/v1/apps/{name}/domains/{domain}").status_code == 204
    assert api.get(f"/v1/apps/{name}/domains").get_json()["results"] == []
    assert other.post(f"/v1/apps/{other_app}/domains", json={"domain": domain}).status_code == 201


@pytest.mark.parametrize("domain", ["localhost", "-bad.example.com", "a..b.com", "x" * 64 + ".com", "1.2.3.4",
                                    "under_score.com"])
def test_invalid_domains_are_400(api, domain):
    name = api.new_app()
    assert api.post(f"/v1/apps/{name}/domains", json={"domain": domain}).status_code == 400
    assert api.get(f"/v1/apps/{name}").get_json()["domains"] == []


def test_domains_under_the_platform_domain_are_reserved(api, settings):
    name = api.new_app()
    response = api.post(f"/v1/apps/{name}/domains", json={"domain": f"other.{settings.platform_domain}"})
    assert response.status_code == 400
