"""Spool an uploaded source tarball to disk, within PAAS_MAX_UPLOAD_BYTES."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import IO

from paas.domain.errors import TooLarge

CHUNK = 1024 * 1024


def save_upload(directory: Path, stream: IO[bytes], limit: int) -> Path | None:
    """Spool the request body to a file; None unless it is a tar archive. The limit is counted
    while streaming, so an upload without a Content-Length (chunked) stops at `limit` bytes too
    and what was written so far is removed."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".tar", delete=False) as out:
        path = Path(out.name)
        written = 0
        try:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise TooLarge(f"The upload is larger than {limit} bytes (PAAS_MAX_UPLOAD_BYTES)")
                out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    if not tarfile.is_tarfile(path):
        path.unlink()
        return None
    return path
