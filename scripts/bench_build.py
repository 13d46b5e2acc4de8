#!/usr/bin/env python3
"""Cold and warm build times and image sizes (real Docker and registry) for the Flask and
Express samples: source to pushed image, through the platform's builder.

    .venv/bin/python scripts/bench_build.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from paas.builder.docker_builder import DockerImageBuilder  # noqa: E402
from paas.config import Settings  # noqa: E402
from tests import harness  # noqa: E402


def own_layers_mb(client: docker.DockerClient, image: str, stack: str) -> float:
    """Size of the layers the build added on top of the run stack."""
    stack_ids = {h["Id"] for h in client.images.get(stack).history()}
    return sum(h.get("Size", 0) for h in client.images.get(image).history() if h["Id"] not in stack_ids) / 1e6


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    settings = replace(Settings.from_env(), data_dir=work / "data")
    builder = DockerImageBuilder(settings)
    client = docker.from_env()
    try:
        for sample in ("flask", "express"):
            app = f"bench-{sample}-{uuid.uuid4().hex[:6]}"
            source = work / sample
            shutil.copytree(harness.REPO / "tests" / "apps" / sample, source)
            start = time.perf_counter()
            cold = builder.build(app, uuid.uuid4().hex[:12], source, {}, lambda line: None)
            cold_s = time.perf_counter() - start
            entry = source / ("app.py" if sample == "flask" else "index.js")
            comment = "#" if sample == "flask" else "//"
            entry.write_text(entry.read_text() + f"\n{comment} code-only change\n")
            start = time.perf_counter()
            warm = builder.build(app, uuid.uuid4().hex[:12], source, {}, lambda line: None)
            warm_s = time.perf_counter() - start
            size = client.images.get(warm.image).attrs["Size"] / 1e6
            own = own_layers_mb(client, warm.image, settings.run_stack)
            print(f"{sample:8} cold {cold_s:5.1f} s   warm (code change) {warm_s:4.1f} s   image {size:5.0f} MB   "
                  f"app's own layers {own:5.1f} MB   ({cold.image.split('/')[-1]}, {warm.image.split('/')[-1]})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
