"""Finding 9 and the Low findings on request bodies: a 100 MB JSON body was parsed (before
authentication), source uploads had no limit, deeply nested JSON and lone surrogates gave 500,
TRACE answered 405 without Allow, and POST /v1/apps without a body disagreed with the spec.

Body limits are tested against the real gunicorn controller, with bodies streamed from a
generator so that the test itself never holds 100 MB."""

from __future__ import annotations

import http.client
import io
import json
import select
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests import harness
from tests.conftest import unique

MiB = 1024 * 1024
CHUNK = b" " * (64 * 1024)  # JSON whitespace: a valid prefix of any JSON body


def open_socket(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def send_streamed(url: str, path: str, headers: dict[str, str], total: int, chunked: bool) -> tuple[int, dict, int]:
    """POST `total` bytes (64 KiB at a time) until the server answers; (status, JSON body, bytes sent).
    With chunked=False a Content-Length of `total` is announced up front."""
    sock = open_socket(url)
    head = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in {"Content-Type": "application/json", **headers}.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent = 0
    try:
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break  # the server has answered (or closed): stop sending
            if writable:
                frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
                sock.sendall(frame)
                sent += len(CHUNK)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading, which is the point
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = json.loads(response.read() or b"{}")
    sock.close()
    return response.status, body, sent


def test_a_100_mb_json_body_is_refused_before_parsing(controller, make_user):
    user = make_user("big")
    for chunked in (False, True):
        status, body, sent = send_streamed(controller.url, "/v1/apps", user.headers, 100 * 1000 * 1000, chunked)
        assert status == 413, body
        assert body["code"] == 413 and "larger than" in body["message"] and str(MiB) in body["message"]
        assert sent < 16 * MiB, f"the controller read {sent} bytes before refusing"
    # Without credentials it is a 401, and the body is never read.
    status, body, sent = send_streamed(controller.url, "/v1/apps", {}, 100 * 1000 * 1000, False)
    assert status == 401 and sent < 16 * MiB
    # The controller still serves.
    assert requests.get(f"{controller.url}/healthz", timeout=5).status_code == 200


def test_a_body_under_the_limit_is_still_parsed(controller, make_user):
    user = make_user("small")
    name = unique("pad")
    body = json.dumps({"name": name}).encode() + b" " * (MiB // 2)
    response = requests.post(f"{controller.url}/v1/apps", data=body, headers={**user.headers,
                             "Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 201 and response.json()["name"] == name
    requests.delete(f"{controller.url}/v1/apps/{name}", headers=user.headers, timeout=30)


@pytest.fixture(scope="module")
def small_upload_controller(settings, controller, tmp_path_factory) -> Iterator[str]:
    """A second controller on the same platform whose upload limit is 2 MiB."""
    env = {**controller.env, "PAAS_MAX_UPLOAD_BYTES": str(2 * MiB)}
    proc, url = harness.start_controller(env, tmp_path_factory.mktemp("upload-controller") / "controller.log")
    yield url
    harness.stop(proc)


def tar_of(size: int) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("Procfile")
        payload = b"web: true\n" + b"#" * size
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return data.getvalue()


def uploads(settings) -> set[str]:
    directory = Path(settings.data_dir) / "uploads"
    return {p.name for p in directory.iterdir()} if directory.is_dir() else set()


def test_source_uploads_have_their_own_limit_enforced_while_streaming(small_upload_controller, make_user, settings):
    url = small_upload_controller
    user = make_user("up")
    app = unique("up")
    assert requests.post(f"{url}/v1/apps", json={"name": app}, headers=user.headers, timeout=10).status_code == 201
    before = uploads(settings)
    path = f"/v1/apps/{app}/builds/source"
    # Announced as too large: refused at once.
    status, body, sent = send_streamed(url, path, {**user.headers, "Content-Type": "application/octet-stream"},
                                       3 * MiB, chunked=False)
    assert status == 413 and str(2 * MiB) in body["message"], body
    # Chunked (no Content-Length): counted while streaming, refused at the limit.
    tarball = tar_of(3 * MiB)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(tarball), 256 * 1024):
            yield tarball[start:start + 256 * 1024]

    response = requests.post(f"{url}{path}", data=pieces(), timeout=60,
                             headers={**user.headers, "Content-Type": "application/octet-stream"})
    assert response.status_code == 413, response.text[:300]
    assert "larger than" in response.json()["message"]
    assert uploads(settings) == before, "a refused upload left a file behind"
    assert requests.get(f"{url}/v1/apps/{app}/builds", headers=user.headers, timeout=10).json()["count"] == 0
    assert requests.get(f"{url}/v1/apps/{app}/releases", headers=user.headers, timeout=10).json()["count"] == 1
    requests.delete(f"{url}/v1/apps/{app}", headers=user.headers, timeout=30)


@pytest.mark.parametrize("body,why", [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"name": "' + b"[" * 10 + b'", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "nested too deeply"),
    (b'{"name": "\\ud800"}', "lone surrogate"),
    (b'{"name": "\xff\xfe"}', "not valid UTF-8"),
    (b'["a", "b"]', "must be a JSON object"),
    (b'"just a string"', "must be a JSON object"),
    (b'{"name": NaN}', "not valid JSON"),
    (b'{"name": 1e999}', "out of range"),
    (b'{"name": "abc"', "not valid JSON"),
], ids=["deep-array", "deep-member", "surrogate", "bad-utf8", "array", "string", "nan", "huge-number", "truncated"])
def test_malformed_json_of_any_shape_is_a_400(controller, make_user, body, why):
    user = make_user("json")
    before = requests.get(f"{controller.url}/v1/apps", headers=user.headers, timeout=10).json()["count"]
    response = requests.post(f"{controller.url}/v1/apps", data=body, timeout=30,
                             headers={**user.headers, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert response.headers["Content-Type"] == "application/json" and why in response.json()["message"]
    assert requests.get(f"{controller.url}/v1/apps", headers=user.headers, timeout=10).json()["count"] == before


def test_a_lone_surrogate_in_a_config_value_changes_nothing(api):
    name = api.new_app()
    response = api.client.patch(f"/v1/apps/{name}/config?wait=false", data=b'{"values": {"A": "x\\udfff"}}',
                                content_type="application/json", headers=api.user.headers)
    assert response.status_code == 400
    assert api.get(f"/v1/apps/{name}/releases").get_json()["count"] == 1


@pytest.mark.parametrize("method", ["TRACE", "PUT", "PATCH"])
def test_unsupported_methods_are_405_with_allow(controller, make_user, method):
    user = make_user("trace")
    response = requests.request(method, f"{controller.url}/v1/apps", headers=user.headers, timeout=10)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.json()["code"] == 405


def test_creating_an_app_without_a_body_matches_the_spec(controller, make_user):
    spec = requests.get(f"{controller.url}/openapi.json", timeout=10).json()
    request_body = spec["paths"]["/v1/apps"]["post"]["requestBody"]
    assert request_body.get("required", False) is False
    user = make_user("nobody")
    response = requests.post(f"{controller.url}/v1/apps", headers=user.headers, timeout=10)
    assert response.status_code == 201
    name = response.json()["name"]
    assert requests.delete(f"{controller.url}/v1/apps/{name}", headers=user.headers, timeout=30).status_code == 204
