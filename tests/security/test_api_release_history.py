"""Low finding: every release returned its full config, so rotated secrets stayed readable in
history. Release history shows config keys with masked values; `?reveal=true` shows values to
users who may read config (owner, collaborator, admin), and to no one else."""

from __future__ import annotations

import uuid


def test_release_history_masks_config_values(api, make_user):
    name = api.new_app("hist")
    old_secret, new_secret = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    api.post(f"/v1/apps/{name}/builds", json={"image": f"127.0.0.1:5000/{name}:b1"})
    api.patch(f"/v1/apps/{name}/config", json={"values": {"SECRET": old_secret}})
    api.patch(f"/v1/apps/{name}/config", json={"values": {"SECRET": new_secret}})  # rotated
    responses = [
        api.get(f"/v1/apps/{name}/releases"),
        api.get(f"/v1/apps/{name}/releases/v3"),
        api.get(f"/v1/apps/{name}/releases/4"),
        api.post(f"/v1/apps/{name}/releases/rollback", json={"version": 3}),
        api.post(f"/v1/apps/{name}/builds", json={"image": f"127.0.0.1:5000/{name}:b2"}),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.get_json()
        assert old_secret not in response.text and new_secret not in response.text
        assert "SECRET" in response.text and "*****" in response.text
    # The config endpoint itself is unchanged.
    assert api.get(f"/v1/apps/{name}/config").get_json()["values"] == {"SECRET": old_secret}


def test_reveal_shows_values_to_users_who_may_read_config_only(api, make_user):
    name = api.new_app("reveal")
    api.patch(f"/v1/apps/{name}/config", json={"values": {"SECRET": "s3cr3t-value"}})
    shown = api.get(f"/v1/apps/{name}/releases/v2", query_string={"reveal": "true"})
    assert shown.get_json()["config"] == {"SECRET": "s3cr3t-value"}
    listed = api.get(f"/v1/apps/{name}/releases", query_string={"reveal": "true"}).get_json()
    assert listed["results"][0]["config"] == {"SECRET": "s3cr3t-value"}
    # A stranger learns nothing, not even that the app exists.
    stranger = api.as_user(make_user("b"))
    for path in (f"/v1/apps/{name}/releases/v2", f"/v1/apps/{name}/releases"):
        response = stranger.get(path, query_string={"reveal": "true"})
        assert response.status_code == 404 and "s3cr3t" not in response.text
    # A collaborator may read config, so reveal works for them.
    collaborator = make_user("c")
    assert api.post(f"/v1/apps/{name}/perms", json={"username": collaborator.username}).status_code == 201
    revealed = api.as_user(collaborator).get(f"/v1/apps/{name}/releases/v2", query_string={"reveal": "true"})
    assert revealed.get_json()["config"] == {"SECRET": "s3cr3t-value"}
