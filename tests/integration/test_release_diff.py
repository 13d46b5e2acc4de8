"""Release diffs over the API against the real Consul: a config change and a push show the right
keys (masked unless asked for, and then only to users who may read config) and the commit range."""

from __future__ import annotations

import uuid

from paas.domain.builds import Build, new_build_id
from paas.domain.clock import now_iso

OLD_SHA, NEW_SHA = "a6b2426" + "c" * 33, "9f01c2d" + "d" * 33


def push(services, api, name: str, git_sha: str, procfile: dict[str, str]) -> int:
    """What a git push records (build + release), without building: the builder is not under test."""
    actor = services.auth.get_user(api.user.username)
    build = Build(id=new_build_id(), app=name, image=f"127.0.0.1:5000/{name}:{git_sha[:7]}", created_by=actor.username,
                  created_at=now_iso(), finished_at=now_iso(), source="git", git_sha=git_sha, procfile=procfile)
    return services.builds.record(build, actor, f"{actor.username} deployed {git_sha[:7]}").version


def test_diff_between_a_config_change_and_a_push_shows_masked_keys_and_the_commit_range(api, services, make_user):
    name = api.new_app("diff")
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    assert push(services, api, name, OLD_SHA, {"web": "gunicorn app"}) == 2
    changed = api.patch(f"/v1/apps/{name}/config", json={"values": {"DATABASE_URL": secret, "GREETING": "hi"}})
    assert changed.get_json()["release"]["version"] == 3
    # Scale and a limit change make no release: the next release records them.
    scaled = api.patch(f"/v1/apps/{name}/formation", query_string={"wait": "false"},
                       json={"quantities": {"web": 2}, "limits": {"web": {"memory": "512M"}}})
    assert scaled.status_code == 200, scaled.get_json()
    assert push(services, api, name, NEW_SHA, {"web": "gunicorn app -w 4", "worker": "celery"}) == 4

    # One version: what v3 changed (against v2). Keys show, values do not.
    config_change = api.get(f"/v1/apps/{name}/releases/v3/diff")
    assert config_change.status_code == 200, config_change.get_json()
    body = config_change.get_json()
    assert (body["from_version"], body["to_version"], body["values_shown"]) == (2, 3, False)
    assert body["config"] == [{"name": "DATABASE_URL", "kind": "added", "before": None, "after": "*****"},
                              {"name": "GREETING", "kind": "added", "before": None, "after": "*****"}]
    assert body["build"] is None and body["procfile"] == []
    assert secret not in config_change.text

    # Two versions (v3 and the push after it, given as `3`): the commit range and the Procfile.
    pushed = api.get(f"/v1/apps/{name}/releases/3/diff", query_string={"to": "v4"}).get_json()
    assert (pushed["from_version"], pushed["to_version"]) == (3, 4)
    assert pushed["config"] == []
    assert pushed["build"]["commit_range"] == "a6b2426..9f01c2d"
    assert pushed["build"]["after_git_sha"] == NEW_SHA
    assert [(c["name"], c["kind"]) for c in pushed["procfile"]] == [("web", "changed"), ("worker", "added")]
    assert pushed["not_recorded"] == []
    assert {(c["name"], c["kind"], c["before"], c["after"]) for c in pushed["formation"]} >= {
        ("web.quantity", "changed", "1", "2"), ("web.memory", "added", None, "512M")}

    # Across both: the keys and the range together.
    both = api.get(f"/v1/apps/{name}/releases/v2/diff", query_string={"to": "4"}).get_json()
    assert [c["name"] for c in both["config"]] == ["DATABASE_URL", "GREETING"]
    assert both["build"]["commit_range"] == "a6b2426..9f01c2d"

    # Values when asked for, by the owner and a collaborator (both may read config).
    shown = api.get(f"/v1/apps/{name}/releases/v3/diff", query_string={"show_values": "true"}).get_json()
    assert shown["values_shown"] and shown["config"][0]["after"] == secret
    collaborator = make_user("collab")
    assert api.post(f"/v1/apps/{name}/perms", json={"username": collaborator.username}).status_code == 201
    as_collaborator = api.as_user(collaborator).get(f"/v1/apps/{name}/releases/v3/diff",
                                                    query_string={"show_values": "true"})
    assert as_collaborator.get_json()["config"][0]["after"] == secret

    # Someone who may not read the app's config learns nothing, not even that the app exists.
    stranger = api.as_user(make_user("stranger"))
    refused = stranger.get(f"/v1/apps/{name}/releases/v3/diff", query_string={"show_values": "true"})
    assert refused.status_code == 404 and secret not in refused.text and "DATABASE_URL" not in refused.text


def test_unknown_versions_are_404_naming_the_version(api):
    name = api.new_app("diff")
    api.patch(f"/v1/apps/{name}/config", json={"values": {"A": "1"}})
    for path, query in ((f"/v1/apps/{name}/releases/v9/diff", {}),
                        (f"/v1/apps/{name}/releases/v1/diff", {"to": "v9"})):
        response = api.get(path, query_string=query)
        assert response.status_code == 404, response.get_json()
        assert response.get_json()["message"] == f"Release v9 of {name} not found"
    # v1 has nothing before it: it is diffed against nothing.
    first = api.get(f"/v1/apps/{name}/releases/v1/diff").get_json()
    assert first["from_version"] is None and first["to_version"] == 1
    # A `to` that is no version is refused before anything is read.
    assert api.get(f"/v1/apps/{name}/releases/v1/diff", query_string={"to": "v1\n"}).status_code == 422
