"""A source whose app.json (or Procfile) is not a regular file: a directory of that name, or a
link inside the tree. The build fails with a clear message and is recorded as failed; before,
a directory made `read_untrusted` raise IsADirectoryError, which no caller expected (the build
stayed "building" and the push got a server error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paas.domain.errors import BuildFailed

from ..integration.builder_support import build_network_cleanup  # noqa: F401

pytestmark = pytest.mark.usefixtures("build_network_cleanup")


def source_with(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Procfile").write_text("web: sleep 600\n")
    return source


@pytest.mark.parametrize("name", ["app.json", "Procfile"])
def test_a_directory_named_like_a_platform_file_fails_the_build_cleanly(services, tenant, tmp_path, name):
    _, owner, app = tenant
    source = source_with(tmp_path)
    (source / name).unlink(missing_ok=True)
    (source / name).mkdir()
    (source / name / "x").write_text("{}")
    (source / "Dockerfile").write_text("FROM paas/stack-run:latest\nCMD [\"sleep\", \"600\"]\n")
    lines: list[str] = []
    with pytest.raises(BuildFailed, match=f"{name} is not a regular file"):
        services.builds.create_from_source(app, owner, source, lines.append)
    assert [b.status for b in services.builds.list(app)] == ["failed"]


def test_an_app_json_linked_to_another_file_of_the_source_is_refused(services, tenant, tmp_path):
    _, owner, app = tenant
    source = source_with(tmp_path)
    (source / "checks.json").write_text('{"healthchecks": {"web": [{"path": "/LINKED"}]}}')
    (source / "app.json").symlink_to("checks.json")
    lines: list[str] = []
    with pytest.raises(BuildFailed, match="app.json is a symlink, which is refused") as caught:
        services.builds.create_from_source(app, owner, source, lines.append)
    assert "/LINKED" not in str(caught.value) + "\n".join(lines)
