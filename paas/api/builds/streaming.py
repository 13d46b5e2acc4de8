"""Stream a long build back to the client as NDJSON while it runs."""

from __future__ import annotations

import json
import queue
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from paas.domain.errors import PaasError

from ..builds.schemas import BuildSchema
from ..releases.schemas import ReleaseSchema

_DONE = object()


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


def ndjson_build(run: Callable[[Callable[[str], None]], tuple]) -> Iterator[str]:
    """Run the build in a thread; yield {"log": line} as lines arrive, then the outcome."""
    lines: queue.Queue = queue.Queue()
    outcome: dict = {}

    def worker() -> None:
        try:
            build, release = run(lambda line: lines.put(line))
            outcome["result"] = {"build": BuildSchema().dump(build), "release": ReleaseSchema().dump(release)}
        except PaasError as exc:
            outcome["result"] = {"error": str(exc)}
        finally:
            lines.put(_DONE)

    threading.Thread(target=worker, name="build", daemon=True).start()
    while (line := lines.get()) is not _DONE:
        yield json.dumps({"log": line}) + "\n"
    # A crash that is not a PaasError has been printed by threading's excepthook; say so briefly.
    yield json.dumps(outcome.get("result", {"error": "The build crashed; see the controller's log"})) + "\n"
