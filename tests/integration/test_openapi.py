"""The OpenAPI document, the interactive docs, and schemathesis fuzzing the real controller."""

import contextlib
import os
import subprocess
from pathlib import Path

import docker.errors
import requests

from ..conftest import BIN, PASSWORD, unique


def test_openapi_document_lists_every_resource(controller):
    spec = requests.get(f"{controller.url}/openapi.json", timeout=5).json()
    assert spec["openapi"].startswith("3.")
    paths = set(spec["paths"])
    for path in ["/v1/auth/register", "/v1/auth/login", "/v1/auth/whoami", "/v1/auth/logout", "/v1/users",
                 "/v1/keys", "/v1/apps", "/v1/apps/{app}", "/v1/apps/{app}/config", "/v1/apps/{app}/releases",
                 "/v1/apps/{app}/releases/rollback", "/v1/apps/{app}/releases/{version}/diff",
                 "/v1/apps/{app}/builds", "/v1/apps/{app}/formation",
                 "/v1/apps/{app}/domains", "/v1/apps/{app}/perms"]:
        assert path in paths, path
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_interactive_docs_are_served(controller):
    response = requests.get(f"{controller.url}/docs", timeout=5)
    assert response.status_code == 200 and "swagger" in response.text.lower()


def schemathesis(controller, token: str, tmp_path: Path, app: str, *selection: str) -> str:
    """Run schemathesis with every check against the real controller; its report on failure."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(app=app))
    result = subprocess.run(
        [
            str(BIN / "schemathesis"), "--config-file", str(config), "run", f"{controller.url}/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", "all",
            *selection,
            "--request-timeout", "60",
            "--max-examples", os.environ.get("PAAS_FUZZ_EXAMPLES", "25"),
            "--workers", "2",
            "--seed", "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    report = tmp_path / "schemathesis.out"
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"full report: {report}\n" + result.stdout[-8000:] + result.stderr[-2000:]
    return result.stdout


# Statuses a schema-valid request may get besides the defaults (2xx, 401, 403, 404, 409, 429),
# for rules no OpenAPI 3.0 schema can state: a key's or certificate's contents, the state of an
# app (rollback target, process types of the current release, domains), config key names (OAS 3.0
# has no propertyNames), an upload's contents (a tar archive). Everything else must be accepted.
CONFIG = """
[parameters]
"path.app" = "{app}"
# Waiting for deploys of random images only makes the run slow; tests/e2e cover waiting.
"query.wait" = false

[[operations]]
include-name = ["POST /v1/keys", "POST /v1/apps/{{app}}/certs", "POST /v1/apps/{{app}}/releases/rollback",
                "PATCH /v1/apps/{{app}}/formation", "PATCH /v1/apps/{{app}}/config", "POST /v1/apps/{{app}}/builds",
                "POST /v1/apps/{{app}}/domains", "DELETE /v1/apps/{{app}}/domains/{{domain}}",
                "POST /v1/apps/{{app}}/ps/restart", "POST /v1/apps/{{app}}/builds/source"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

# An attached run is an HTTP upgrade: without `Connection: Upgrade` it answers 426 Upgrade Required.
# (422: rows and cols come together, which OAS 3.0 cannot say.)
[[operations]]
include-name = ["POST /v1/apps/{{app}}/run/attach"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "426", "429"]
"""


def push_tiny_image(docker_client, settings, app: str) -> str:
    """The run stack tagged into the app's own repository (its layers are in the registry already)."""
    repository = f"{settings.registry}/{app}"
    docker_client.images.get("paas/stack-run:latest").tag(repository, "fuzz")
    docker_client.images.push(repository, "fuzz")
    return f"{repository}:fuzz"


def test_schemathesis_finds_no_server_error_or_schema_violation(controller, make_user, tmp_path, docker_client,
                                                                settings):
    user = make_user("fuzz")
    # A real app with a web and a worker type, so fuzzing reaches past "app not found".
    app = unique("fuzz")
    requests.post(f"{controller.url}/v1/apps", json={"name": app}, headers=user.headers, timeout=10)
    image = push_tiny_image(docker_client, settings, app)
    try:
        build = {"image": image, "procfile": {"web": "exec python3 -m http.server $PORT", "worker": "sleep 1d"}}
        requests.post(f"{controller.url}/v1/apps/{app}/builds", json=build, headers=user.headers,
                      params={"wait": "false"}, timeout=60)
        schemathesis(
            controller, user.token, tmp_path, app,
            # Logging out or revoking tokens would end the fuzzer's own session (the next run
            # covers them); destroying the app ends the run early.
            "--exclude-path", "/v1/auth/logout",
            "--exclude-name", "DELETE /v1/auth/tokens/{token_id}",
            "--exclude-name", "DELETE /v1/apps/{app}",
            # A followed log stream never ends by design; tests/e2e covers logs.
            "--exclude-name", "GET /v1/apps/{app}/logs",
        )
        releases = requests.get(f"{controller.url}/v1/apps/{app}/releases", headers=user.headers, timeout=10).json()
        assert releases["count"] > 2, "the fuzzer never reached the app's endpoints"
    finally:
        requests.delete(f"{controller.url}/v1/apps/{app}", headers=user.headers, timeout=60)
        with contextlib.suppress(docker.errors.ImageNotFound):  # destroy removes the app's images itself
            docker_client.images.remove(image)


def test_schemathesis_on_logout_and_token_revocation_with_a_throwaway_token(controller, make_user, tmp_path):
    user = make_user("fuzzout")
    login = requests.post(f"{controller.url}/v1/auth/login", json={"username": user.username, "password": PASSWORD},
                          timeout=10)
    throwaway = login.json()["token"]
    schemathesis(controller, throwaway, tmp_path, "none-such",
                 "--include-path", "/v1/auth/logout", "--include-name", "DELETE /v1/auth/tokens/{token_id}")
    # The throwaway token is gone; the user's own token still works.
    whoami = f"{controller.url}/v1/auth/whoami"
    assert requests.get(whoami, headers={"Authorization": f"Bearer {throwaway}"}, timeout=10).status_code == 401
    assert requests.get(whoami, headers=user.headers, timeout=10).status_code == 200
