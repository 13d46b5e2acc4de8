"""Dynamic configuration for Traefik's file provider, in the router directory it watches
(PAAS_ROUTER_DIR, default .run/router; scripts/services.sh points Traefik at it):

    paas-controller.yml              the controller's own route: paas.<PAAS_DOMAIN> -> controller
    cert-<name>.yml                  tls.certificates: one certificate (an app's, or "paas")
    cert-<name>-<sha>.crt / .key     its PEM files, mode 0600 (directory mode 0700)

Traefik serves a certificate by SNI for every name it lists, on the HTTPS entrypoint.

Every file is written atomically (temporary file in the same directory, fsync, rename), so
Traefik never reads half a file; its files are named `.*.tmp`, which Traefik ignores (it reads
.yml/.yaml/.toml only). A certificate's PEM files are written under new names before the .yml
that points at them is swapped in, and the old ones are removed only afterwards. JSON is YAML,
so the .yml files are JSON and no YAML library is needed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .tags import HTTP_ENTRYPOINT, HTTPS_ENTRYPOINT, host_rule

PLATFORM_ROUTER = "paas-controller"
PLATFORM_HOST_LABEL = "paas"  # the controller answers at paas.<PAAS_DOMAIN>
PLATFORM_CERT = "paas"  # certificate name for the platform's own domain(s)
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_CERT_YML_RE = re.compile(r"^cert-(?P<name>[a-z0-9-]+)\.yml$")


def platform_host(platform_domain: str) -> str:
    return f"{PLATFORM_HOST_LABEL}.{platform_domain}"


def platform_route(
    platform_domain: str, controller_urls: list[str], *, https: bool = True, name: str = PLATFORM_ROUTER
) -> dict:
    """The dynamic configuration routing paas.<platform_domain> to the controller(s): routers
    `name` (HTTP) and `name`-secure (HTTPS), service `name`."""
    _check_name(name)
    if name.startswith("cert-"):
        raise ValueError("route names starting with cert- are taken by certificates")
    if not controller_urls or not all(re.match(r"^https?://[^\s/]+/?$", u) for u in controller_urls):
        raise ValueError("controller_urls must be one or more http(s)://host:port URLs")
    rule = host_rule([platform_host(platform_domain)])
    routers = {name: {"rule": rule, "entryPoints": [HTTP_ENTRYPOINT], "service": name}}
    if https:
        routers[f"{name}-secure"] = {"rule": rule, "entryPoints": [HTTPS_ENTRYPOINT], "service": name, "tls": {}}
    servers = [{"url": u.rstrip("/")} for u in controller_urls]
    return {"http": {"routers": routers, "services": {name: {"loadBalancer": {"servers": servers}}}}}


def write_platform_route(
    router_dir: Path | str,
    platform_domain: str,
    controller_urls: list[str],
    *,
    https: bool = True,
    name: str = PLATFORM_ROUTER,
) -> Path:
    """Route paas.<platform_domain> (HTTP, and HTTPS unless https=False) to the controller(s),
    in <router_dir>/<name>.yml. Call it when the controller starts (urls: where it listens)."""
    config = platform_route(platform_domain, controller_urls, https=https, name=name)
    with _locked(router_dir) as root:
        path = root / f"{name}.yml"
        _atomic_write(path, _dump(config), 0o644)
        return path


def remove_platform_route(router_dir: Path | str, name: str = PLATFORM_ROUTER) -> bool:
    _check_name(name)
    with _locked(router_dir) as root:
        return _unlink(root / f"{name}.yml")


def write_certificate(router_dir: Path | str, name: str, cert_pem: str, key_pem: str) -> Path:
    """Install (or replace) certificate `name` (an app's name, or "paas"). Validate the pair
    first (paas.router.certs.validate): Traefik skips a bad pair, logging an error."""
    _check_name(name)
    with _locked(router_dir) as root:
        return _write_certificate(root, name, cert_pem, key_pem)


def remove_certificate(router_dir: Path | str, name: str) -> bool:
    """Stop serving certificate `name`; True if it was installed."""
    _check_name(name)
    with _locked(router_dir) as root:
        return _remove_certificate(root, name)


def list_certificates(router_dir: Path | str) -> list[str]:
    root = Path(router_dir)
    if not root.is_dir():
        return []
    return sorted(m["name"] for p in root.iterdir() if (m := _CERT_YML_RE.match(p.name)))


def sync_certificates(router_dir: Path | str, certificates: Mapping[str, tuple[str, str]]) -> None:
    """Make the directory hold exactly these certificates ({name: (cert_pem, key_pem)}), e.g.
    from the store at controller start; unchanged ones are left alone."""
    for name in certificates:
        _check_name(name)
    with _locked(router_dir) as root:
        for name, (cert_pem, key_pem) in certificates.items():
            _write_certificate(root, name, cert_pem, key_pem)
        for name in set(list_certificates(root)) - set(certificates):
            _remove_certificate(root, name)


def certificate_paths(router_dir: Path | str, name: str) -> tuple[Path, Path] | None:
    """(certFile, keyFile) that Traefik is told to serve for `name`, if installed."""
    _check_name(name)
    path = Path(router_dir) / f"cert-{name}.yml"
    try:
        entry = json.loads(path.read_text())["tls"]["certificates"][0]
    except (FileNotFoundError, KeyError, IndexError, ValueError):
        return None
    return Path(entry["certFile"]), Path(entry["keyFile"])


# ---------------------------------------------------------------- helpers

def _write_certificate(root: Path, name: str, cert_pem: str, key_pem: str) -> Path:
    digest = hashlib.sha256(cert_pem.encode()).hexdigest()[:12]
    cert_file, key_file = root / f"cert-{name}-{digest}.crt", root / f"cert-{name}-{digest}.key"
    _atomic_write(cert_file, _pem(cert_pem), 0o600)
    _atomic_write(key_file, _pem(key_pem), 0o600)
    config = {"tls": {"certificates": [{"certFile": str(cert_file), "keyFile": str(key_file)}]}}
    path = root / f"cert-{name}.yml"
    _atomic_write(path, _dump(config), 0o600)
    _remove_pems(root, name, keep={cert_file.name, key_file.name})
    return path


def _remove_certificate(root: Path, name: str) -> bool:
    existed = _unlink(root / f"cert-{name}.yml")
    _remove_pems(root, name, keep=set())
    return existed


def _remove_pems(root: Path, name: str, keep: set[str]) -> None:
    pattern = re.compile(rf"^cert-{re.escape(name)}-[0-9a-f]{{12}}\.(crt|key)$")
    for path in root.iterdir():
        if pattern.match(path.name) and path.name not in keep:
            _unlink(path)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"invalid certificate name {str(name)[:40]!r}: use an app name")


def _pem(text: str) -> bytes:
    return (text.strip() + "\n").encode("ascii")


def _dump(config: dict) -> bytes:
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


@contextmanager
def _locked(router_dir: Path | str) -> Iterator[Path]:
    """The router directory (created 0700), locked against other writers in this host."""
    root = Path(router_dir).resolve()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield root
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
