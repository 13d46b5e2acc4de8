"""Finding 9 (build side): a source archive is unpacked under limits, checked while streaming
its members: a 1 MB gzip that unpacks to 1 GiB and a tarball of too many entries are refused
with a clear message, nothing near their size is written, and the workspace is removed."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from paas.builder.docker_builder import DockerImageBuilder
from paas.domain.errors import BuildFailed

from ..conftest import unique

GIB = 1024 ** 3


class Zeros(io.RawIOBase):
    """size bytes of zeros, produced as they are read (nothing of it on disk or in memory)."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def gzip_bomb(path: Path, size: int = GIB) -> Path:
    """A .tar.gz of one member of `size` zero bytes (about size/1000 on disk)."""
    with gzip.open(path, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w|") as archive:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        archive.addfile(info, io.BufferedReader(Zeros(size), 1024 * 1024))
    return path


def many_entries(path: Path, count: int) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for index in range(count):
            info = tarfile.TarInfo(f"f{index}")
            archive.addfile(info, io.BytesIO(b""))
    return path


def attempt(settings, source: Path) -> tuple[str, Path]:
    builder = DockerImageBuilder(settings)
    build_id = unique("lim").replace("-", "")
    lines: list[str] = []
    with pytest.raises(BuildFailed) as caught:
        builder.build(unique("lim"), build_id, source, {}, lines.append)
    return str(caught.value), settings.data_dir / "work" / build_id


def test_a_gzip_bomb_is_refused_while_streaming(settings, tmp_path):
    bomb = gzip_bomb(tmp_path / "bomb.tar.gz")
    assert bomb.stat().st_size < 2 * 1024 * 1024
    free_before = shutil.disk_usage(settings.data_dir).free
    message, workspace = attempt(settings, bomb)
    assert message == "The source unpacks to more than 512 MiB (PAAS_MAX_SOURCE_BYTES)"
    assert not workspace.exists()
    # Nothing near 1 GiB was written on the way (other engineers share the disk: a loose bound).
    assert shutil.disk_usage(settings.data_dir).free > free_before - 256 * 1024 * 1024


def test_a_bomb_below_the_size_limit_is_refused_by_its_compression_ratio(settings, tmp_path):
    bomb = gzip_bomb(tmp_path / "bomb.tar.gz", size=64 * 1024 * 1024)
    message, workspace = attempt(settings, bomb)
    assert message == "The source unpacks to more than 100 times its compressed size (PAAS_MAX_SOURCE_RATIO)"
    assert not workspace.exists()


def test_the_extracted_size_limit_names_its_setting(settings, tmp_path):
    bomb = gzip_bomb(tmp_path / "bomb.tar.gz", size=64 * 1024 * 1024)
    strict = replace(settings, max_source_bytes=32 * 1024 * 1024, max_source_ratio=1e9)
    message, workspace = attempt(strict, bomb)
    assert message == "The source unpacks to more than 32 MiB (PAAS_MAX_SOURCE_BYTES)"
    assert not workspace.exists()


def test_too_many_entries_are_refused(settings, tmp_path):
    archive = many_entries(tmp_path / "many.tar.gz", 1001)
    message, workspace = attempt(replace(settings, max_source_entries=1000), archive)
    assert message == "The source has more than 1000 entries (PAAS_MAX_SOURCE_ENTRIES)"
    assert not workspace.exists()


def test_traversal_in_an_archive_is_refused(settings, tmp_path):
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("../../../../var/tmp/paas-evil")
        archive.addfile(info, io.BytesIO(b""))
    message, workspace = attempt(settings, path)
    assert "refused" in message
    assert not workspace.exists() and not Path("/var/tmp/paas-evil").exists()
