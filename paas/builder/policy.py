"""What the builder accepts from a tenant, as pure functions: files read back from the workspace,
`.paas/layers`, bin/release output, buildpack names and Dockerfile instructions.

Everything here treats its input as hostile data. A path the source or the build wrote is never
followed: each component is checked with lstat (a symlink anywhere is refused) and the file is
opened with O_NOFOLLOW, so a build step `ln -sf /etc/shadow /app/Procfile` reads nothing of the
host. Sizes are bounded so a huge file cannot exhaust the controller's memory.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import re
import shlex
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml
from dockerfile_parse import DockerfileParser

from paas.domain import appjson
from paas.domain.errors import BuildFailed, ValidationError

MAX_READ_BYTES = 64 * 1024
PROCESS_TYPE_RE = re.compile(r"[A-Za-z0-9_-]{1,63}")
# Git URLs a build may name: https://, ssh:// or scp-like git@host:path. No file://, no http://
# (cleartext), no local path; the clone itself runs inside the build container (driver.sh).
GIT_URL_RE = re.compile(r"(?:https|ssh)://[A-Za-z0-9.@:_~%+/-]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+")
GIT_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
BUILTIN_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


# ---------------------------------------------------------------------------- reading files


def _relative_parts(rel: str) -> tuple[str, ...]:
    """The components of a workspace-relative path; refuses absolute paths, `..` and oddities."""
    if not rel or "\x00" in rel or rel.startswith("/") or "\\" in rel:
        raise ValueError("must be a relative path")
    parts = tuple(part for part in PurePosixPath(rel).parts if part != ".")
    if not parts or any(part == ".." for part in parts):
        raise ValueError("must stay inside the app directory (no '..')")
    return parts


def _walk_dirs(base: Path, parts: Iterable[str]) -> Path:
    """base/parts..., each component an existing real directory (lstat: symlinks are refused)."""
    current = base
    for part in parts:
        current = current / part
        mode = os.lstat(current).st_mode
        if stat.S_ISLNK(mode):
            raise ValueError(f"{part!r} is a symlink")
        if not stat.S_ISDIR(mode):
            raise ValueError(f"{part!r} is not a directory")
    return current


def read_untrusted(base: Path, rel: str, limit: int = MAX_READ_BYTES) -> str | None:
    """The text of base/rel, a file the tenant controls, or None if there is none.

    Raises BuildFailed if it (or a directory on the way) is a symlink, is not a regular file or
    is larger than `limit`. `base` itself is the platform's own directory."""
    try:
        parts = _relative_parts(rel)
    except ValueError as exc:
        raise BuildFailed(f"{rel}: {exc}") from None
    try:
        parent = _walk_dirs(base, parts[:-1])
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise BuildFailed(f"{rel} is refused: {exc}; the platform does not follow links in the source") from None
    try:
        fd = os.open(parent / parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(parent / parts[-1]):
            raise BuildFailed(f"{rel} is a symlink, which is refused: commit the file itself") from None
        raise BuildFailed(f"{rel} cannot be read ({exc.strerror})") from None
    # fstat before fdopen: fdopen itself raises IsADirectoryError for a directory of that name.
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BuildFailed(f"{rel} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise BuildFailed(f"{rel} is larger than {limit // 1024} KiB")
    return data.decode("utf-8", "replace")


def is_real_file(base: Path, rel: str) -> bool:
    """base/rel exists and is a regular file reached without any symlink."""
    try:
        parent = _walk_dirs(base, _relative_parts(rel)[:-1])
        return stat.S_ISREG(os.lstat(parent / _relative_parts(rel)[-1]).st_mode)
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------- app.json


def read_app_json(app_dir: Path) -> tuple[appjson.AppJson | None, list[str]]:
    """The source's app.json, parsed (None without one), and notes on what of it is ignored.
    Read before the build runs, from the pushed source itself, so a build step cannot rewrite
    it; BuildFailed (naming the field) for a link, an oversized file, bad JSON or a wrong type."""
    text = read_untrusted(app_dir, appjson.FILENAME, limit=appjson.MAX_BYTES)
    if text is None:
        return None, []
    try:
        return appjson.parse_app_json(text)
    except ValidationError as exc:
        raise BuildFailed(str(exc)) from None


# ---------------------------------------------------------------------------- .paas/layers


LAYER_RE = re.compile(r"[A-Za-z0-9._/@+-]{1,200}")


def layer_dirs(app_dir: Path, text: str) -> tuple[list[str], list[str], list[str]]:
    """What `.paas/layers` names: (the real directories inside app_dir, to become image layers;
    entries that do not exist; messages for refused entries: absolute, `..`, odd characters,
    a symlink anywhere on the way, not a directory, or nested in another layer)."""
    accepted: list[str] = []
    missing: list[str] = []
    refused: list[str] = []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        try:
            parts = _relative_parts(entry)
            if not LAYER_RE.fullmatch(entry):
                raise ValueError("only letters, digits and . _ / @ + - are allowed")
            _walk_dirs(app_dir, parts)
        except FileNotFoundError:
            missing.append(entry[:200])
            continue
        except (ValueError, OSError) as exc:
            refused.append(f"{entry[:200]!r} {exc}")
            continue
        rel = "/".join(parts)
        if rel not in accepted:
            accepted.append(rel)
    # A layer inside another one would be copied twice and shadow the outer one's copy.
    nested = {rel for rel in accepted for other in accepted if rel != other and rel.startswith(other + "/")}
    refused += [f"{rel!r} is inside another layer" for rel in sorted(nested)]
    return [rel for rel in accepted if rel not in nested], missing, refused


# ---------------------------------------------------------------------------- bin/release


def parse_release(text: str) -> dict[str, str]:
    """default_process_types of bin/release's YAML; BuildFailed unless it is a mapping of
    process type -> command (strings)."""
    try:
        document = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise BuildFailed(f"bin/release printed invalid YAML: {str(exc).splitlines()[0][:200]}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise BuildFailed("bin/release must print a YAML mapping (default_process_types: ...)")
    types = document.get("default_process_types")
    if types is None:
        return {}
    if not isinstance(types, dict):
        raise BuildFailed("bin/release: default_process_types must be a mapping of process type to command")
    result: dict[str, str] = {}
    for name, command in types.items():
        if not isinstance(name, str) or not PROCESS_TYPE_RE.fullmatch(name):
            raise BuildFailed(f"bin/release: invalid process type {str(name)[:64]!r}")
        if not isinstance(command, str) or not command.strip() or "\n" in command.strip():
            raise BuildFailed(f"bin/release: the command of {name!r} must be a one-line string")
        result[name] = command.strip()
    return result


# ---------------------------------------------------------------------------- buildpacks


@dataclass(frozen=True)
class BuildpackSource:
    """One requested buildpack: built-in (by name), git (cloned inside the build container) or
    a directory of the operator's allow-list (PAAS_BUILDPACK_DIRS)."""

    kind: str  # "builtin" | "git" | "dir"
    location: str
    ref: str = ""

    @property
    def name(self) -> str:
        last = self.location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
        return re.sub(r"[^A-Za-z0-9_.-]", "-", last)[:40].lstrip(".") or "pack"


def classify_buildpack(source: str, builtin: Iterable[str], allowed_dirs: Iterable[Path]) -> BuildpackSource:
    """What a line of `.buildpacks` (or BUILDPACK_URL) names; BuildFailed for anything else."""
    shown = source[:200]
    url, _, ref = source.strip().partition("#")
    if ref and not GIT_REF_RE.fullmatch(ref):
        raise BuildFailed(f"Buildpack {shown!r}: invalid git ref after '#'")
    if url in set(builtin) and BUILTIN_NAME_RE.fullmatch(url) and not ref:
        return BuildpackSource("builtin", url)
    if GIT_URL_RE.fullmatch(url) and not url.startswith("-"):
        return BuildpackSource("git", url, ref)
    if url.startswith("/") and not ref:
        path = os.path.normpath(url)
        for allowed in allowed_dirs:
            root = os.path.realpath(allowed)
            real = os.path.realpath(path)
            if path.startswith(str(allowed).rstrip("/") + "/") and real.startswith(root.rstrip("/") + "/") \
                    and os.path.isdir(real):
                return BuildpackSource("dir", real)
        raise BuildFailed(
            f"Buildpack {shown!r}: host directories are refused unless the operator allows them "
            f"(PAAS_BUILDPACK_DIRS); use a built-in pack or a git URL (https://, ssh:// or git@host:path)"
        )
    raise BuildFailed(
        f"Buildpack {shown!r} is neither a built-in pack ({', '.join(sorted(builtin))}) nor a git URL "
        f"(https://, ssh:// or git@host:path)"
    )


# ---------------------------------------------------------------------------- Dockerfile

REMOTE_SOURCE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[\w.-]+@[\w.-]+:")


def _split_args(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
    try:
        return shlex.split(value, posix=True)
    except ValueError:
        return value.split()


def _flags_and_args(tokens: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    args: list[str] = []
    for token in tokens:
        if token.startswith("--") and not args:
            name, _, val = token[2:].partition("=")
            flags[name.lower()] = val
        else:
            args.append(token)
    return flags, args


def registry_host(image: str) -> str | None:
    """The registry host:port an image reference names, None for Docker Hub's short names."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return first.lower()
    return None


def _host_and_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        return host, rest.lstrip(":")
    host, _, port = hostport.partition(":")
    return host, port


def is_platform_registry(hostport: str, registry: str, aliases: Iterable[str] = ()) -> bool:
    """hostport names the platform's registry, in any spelling: its configured name, a loopback
    or unspecified address, `localhost`, or another name of this host, on the registry's port."""
    host, port = _host_and_port(hostport.lower())
    reg_host, reg_port = _host_and_port(registry.lower())
    if (host, port) == (reg_host, reg_port):
        return True
    if port != (reg_port or port):
        return False
    names = {reg_host, "localhost", "localhost.localdomain", *(a.lower() for a in aliases)}
    if host in names:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified or address.is_private or address.is_link_local


def dockerfile_violations(
    text: str,
    registry: str,
    stack_images: Iterable[str],
    is_local_image: Callable[[str], bool],
    registry_aliases: Iterable[str] = (),
) -> list[str]:
    """Why this Dockerfile is refused (empty: accepted), one message per offending line.

    dockerd runs `ADD <url>` and pulls `FROM` images in the host's network namespace, outside
    the build network, so: no remote ADD sources; no image from the platform's registry (other
    apps' images) or from any loopback/private registry; no platform-local image but the stacks.
    Build arguments in FROM are refused because they would hide the image until build time."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")), cache_content=False)
    stacks = set(stack_images)
    stages: set[str] = set()
    problems: list[str] = []

    def check_image(line: int, what: str, image: str) -> None:
        if "$" in image:
            problems.append(f"line {line}: {what} {image[:120]}: build arguments are not allowed in image names")
            return
        if image.lower() == "scratch" or is_stack(image, stacks):
            return
        host = registry_host(image)
        if host and is_platform_registry(host, registry, registry_aliases):
            problems.append(f"line {line}: {what} {image[:120]}: images of the platform's registry "
                            f"(other apps' builds) cannot be used; start FROM {sorted(stacks)[0]} or a public image")
        elif is_local_image(image):
            problems.append(f"line {line}: {what} {image[:120]}: only the stack images "
                            f"({', '.join(sorted(stacks))}) and public images may be used")

    for item in parser.structure:
        instruction = item["instruction"].upper()
        value = item["value"]
        line = item["startline"] + 1
        if instruction == "ONBUILD":
            inner, _, value = value.strip().partition(" ")
            instruction = inner.upper()
        tokens = _split_args(value)
        flags, args = _flags_and_args(tokens)
        if instruction == "FROM" and args:
            check_image(line, "FROM", args[0])
            if len(args) >= 3 and args[1].lower() == "as":
                stages.add(args[2].lower())
        elif instruction == "ADD":
            for src in args[:-1]:
                if REMOTE_SOURCE_RE.match(src):
                    problems.append(f"line {line}: ADD {src[:120]}: remote sources are refused (dockerd would "
                                    f"fetch them from the host's network); download in a RUN step instead")
            if "from" in flags:
                check_from(line, flags["from"], stages, check_image)
        elif instruction == "COPY" and "from" in flags:
            check_from(line, flags["from"], stages, check_image)
        elif instruction == "RUN" and "mount" in flags:
            problems.append(f"line {line}: RUN --mount is not supported")
    return problems


def _repository(reference: str) -> str:
    """An image reference without its tag or digest."""
    repository = reference.split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return repository


def is_stack(reference: str, stacks: Iterable[str]) -> bool:
    """reference names one of the stack images' repositories, with any tag or digest (or none)."""
    return _repository(reference) in {_repository(stack) for stack in stacks}


def check_from(line: int, source: str, stages: set[str], check_image: Callable[[int, str, str], None]) -> None:
    if source.isdigit() or source.lower() in stages:
        return
    check_image(line, "COPY --from", source)


def tree_digest(root: Path) -> str:
    """The sha256 of a directory tree the tenant's build wrote: every entry's relative path, type,
    mode and size, a regular file's bytes and a link's target text. Nothing is followed (links
    are data) and only regular files are opened, never a FIFO or device (opening one could block
    or read forever)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            path = here / name
            info = os.lstat(path)
            rel = path.relative_to(root).as_posix()
            digest.update(f"{rel}\0{stat.S_IFMT(info.st_mode)}\0{stat.S_IMODE(info.st_mode)}\0{info.st_size}\0".encode(
                "utf-8", "surrogateescape"))
            if stat.S_ISLNK(info.st_mode):
                digest.update(os.fsencode(os.readlink(path)))
            elif stat.S_ISREG(info.st_mode):
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
                with os.fdopen(fd, "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
            digest.update(b"\1")
    return digest.hexdigest()
