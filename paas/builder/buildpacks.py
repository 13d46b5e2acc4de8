"""Which buildpacks a build uses: the app's .buildpacks file, the BUILDPACK_URL config var, or
detection over the built-in packs in buildpacks/ (in DETECT_ORDER).

The host copies only built-in packs and directories of the operator's allow-list
(PAAS_BUILDPACK_DIRS). A git URL is never fetched by the host (a URL such as
http://127.0.0.1:8500/... would reach the host's own services): it is written to
/workspace/fetch and cloned by driver.sh inside the build container, on the build network."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from . import policy

DETECT_ORDER = ("python", "nodejs", "static", "procfile")
SUPPORTED = (
    "Python (requirements.txt, pyproject.toml or setup.py), Node.js (package.json), "
    "a static site (index.html), anything with a Procfile, or a Dockerfile"
)
MAX_BUILDPACKS = 10


@dataclass(frozen=True)
class BuildpackPlan:
    """Explicit packs all run in order; otherwise the first built-in pack that detects the app runs.
    `fetch` lines (dir, url, ref) are cloned by driver.sh inside the build container."""

    explicit: bool
    names: list[str]
    fetch: list[tuple[str, str, str]]


def requested(app_dir: Path, config: dict[str, str]) -> list[str]:
    listed = policy.read_untrusted(app_dir, ".buildpacks")
    if listed is not None:
        lines = [line.strip() for line in listed.splitlines()]
        return [line for line in lines if line and not line.startswith("#")]
    url = config.get("BUILDPACK_URL", "").strip()
    return [url] if url else []


def builtin_names(builtin: Path) -> list[str]:
    return sorted(p.name for p in builtin.iterdir() if p.is_dir() and (p / "bin" / "compile").is_file())


def prepare(app_dir: Path, config: dict[str, str], builtin: Path, target: Path,
            allowed_dirs: tuple[Path, ...] = ()) -> BuildpackPlan:
    """Copy the packs into target/NN-name, in the order they run (git ones come later, in the
    container)."""
    sources = requested(app_dir, config)
    if not sources:
        for index, name in enumerate(DETECT_ORDER):
            shutil.copytree(builtin / name, target / f"{index:02d}-{name}", symlinks=True)
        return BuildpackPlan(explicit=False, names=list(DETECT_ORDER), fetch=[])
    if len(sources) > MAX_BUILDPACKS:
        raise policy.BuildFailed(f"At most {MAX_BUILDPACKS} buildpacks may be listed")
    names, fetch = [], []
    known = builtin_names(builtin)
    for index, line in enumerate(sources):
        source = policy.classify_buildpack(line, known, allowed_dirs)
        dest = f"{index:02d}-{source.name}"
        if source.kind == "builtin":
            shutil.copytree(builtin / source.location, target / dest, symlinks=True)
        elif source.kind == "dir":
            if not (Path(source.location) / "bin" / "compile").is_file():
                raise policy.BuildFailed(f"Buildpack {source.location} has no bin/compile")
            shutil.copytree(source.location, target / dest, symlinks=True)
        else:
            fetch.append((dest, source.location, source.ref))
        names.append(source.name)
    return BuildpackPlan(explicit=True, names=names, fetch=fetch)


def fetch_list(plan: BuildpackPlan) -> str:
    """/workspace/fetch for driver.sh: one `dir<TAB>url<TAB>ref` line per git pack."""
    return "".join(f"{dest}\t{url}\t{ref}\n" for dest, url, ref in plan.fetch)


def parse_release(text: str) -> dict[str, str]:
    return policy.parse_release(text)
