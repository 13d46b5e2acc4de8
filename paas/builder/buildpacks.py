"""Which buildpacks a build uses: the app's .buildpacks file, the BUILDPACK_URL config var, or
detection over the built-in packs in buildpacks/ (in DETECT_ORDER)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import git

from paas.domain.errors import BuildFailed

DETECT_ORDER = ("python", "nodejs", "static", "procfile")
SUPPORTED = (
    "Python (requirements.txt, pyproject.toml or setup.py), Node.js (package.json), "
    "a static site (index.html), anything with a Procfile, or a Dockerfile"
)
GIT_URL_RE = re.compile(r"^(https?|git|ssh|file)://|^[\w.-]+@[\w.-]+:")


@dataclass(frozen=True)
class BuildpackPlan:
    """Explicit packs all run in order; otherwise the first built-in pack that detects the app runs."""

    explicit: bool
    names: list[str]


def requested(app_dir: Path, config: dict[str, str]) -> list[str]:
    listed = app_dir / ".buildpacks"
    if listed.is_file():
        lines = [line.strip() for line in listed.read_text().splitlines()]
        return [line for line in lines if line and not line.startswith("#")]
    url = config.get("BUILDPACK_URL", "").strip()
    return [url] if url else []


def prepare(app_dir: Path, config: dict[str, str], builtin: Path, target: Path) -> BuildpackPlan:
    """Copy (or clone) the packs into target/NN-name, in the order they run."""
    sources = requested(app_dir, config)
    names = []
    if not sources:
        for index, name in enumerate(DETECT_ORDER):
            shutil.copytree(builtin / name, target / f"{index:02d}-{name}", symlinks=True)
            names.append(name)
        return BuildpackPlan(explicit=False, names=names)
    for index, source in enumerate(sources):
        name = _fetch(source, builtin, target, index)
        names.append(name)
    return BuildpackPlan(explicit=True, names=names)


def _fetch(source: str, builtin: Path, target: Path, index: int) -> str:
    url, _, ref = source.partition("#")
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))[:40] or "pack"
    dest = target / f"{index:02d}-{name}"
    if (builtin / url).is_dir() and "/" not in url:
        shutil.copytree(builtin / url, dest, symlinks=True)
    elif GIT_URL_RE.match(url):
        try:
            repo = git.Repo.clone_from(url, dest, depth=None if ref else 1, multi_options=["--quiet"])
            if ref:
                repo.git.checkout(ref)
        except git.GitCommandError as exc:
            raise BuildFailed(f"Could not fetch buildpack {url}: {exc.stderr.strip()[:300]}") from None
    elif Path(url).is_absolute() and Path(url).is_dir():
        shutil.copytree(url, dest, symlinks=True)
    else:
        raise BuildFailed(f"Buildpack {url!r} is neither a built-in pack, a git URL nor a directory")
    if not (dest / "bin" / "compile").is_file():
        raise BuildFailed(f"Buildpack {url} has no bin/compile")
    return name


def parse_release(text: str) -> dict[str, str]:
    """default_process_types from bin/release's YAML (the simple subset buildpacks emit)."""
    types: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "\t")):
            inside = line.strip().rstrip(":") == "default_process_types" and line.strip().endswith(":")
            continue
        if inside:
            name, sep, command = line.strip().partition(":")
            if sep and command.strip():
                types[name.strip()] = _unquote(command.strip())
    return types


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
