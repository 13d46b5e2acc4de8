"""Spool an uploaded source tarball to disk."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import IO


def save_upload(directory: Path, stream: IO[bytes]) -> Path | None:
    """Spool the request body to a file; None unless it is a tar archive."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".tar", delete=False) as out:
        shutil.copyfileobj(stream, out, 1024 * 1024)
        path = Path(out.name)
    if not tarfile.is_tarfile(path):
        path.unlink()
        return None
    return path
