"""Dynamic configuration for Traefik's file provider, in the router directory it watches
(PAAS_ROUTER_DIR, default .run/router; scripts/services.sh points Traefik at it).

Several platforms may share one router directory (one Traefik on a host): every file a
platform writes is named after its scope (`scope(PAAS_KV_PREFIX)`), and a platform lists,
replaces, syncs and removes only files of its own scope:

    <S>.controller.yml                the controller's route: paas.<PAAS_DOMAIN> -> controller
                                      (Traefik routers <S>-controller and <S>-controller-secure)
    <S>.cert.<name>.yml               tls.certificates: one certificate (an app's, or "paas")
    <S>.cert.<name>.<sha>.crt / .key  its PEM files, mode 0600 (directory mode 0700)

Traefik serves a certificate by SNI for every name it lists, on the HTTPS entrypoint.

Every file is written atomically (temporary file in the same directory, created 0600, fsync,
rename), so Traefik never reads half a file and a key never sits in a readable file; temporary
files are named `.*.tmp`, which Traefik ignores (it reads .yml/.yaml/.toml only). A
certificate's PEM files are written under new names before the .yml that points at them is
swapped in, and the old ones are removed only afterwards. JSON is YAML, so the .yml files are
JSON and no YAML library is needed.
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

DEFAULT_PLATFORM = "paas"  # Settings.kv_prefix's default
PLATFORM_ROUTER = "controller"
PLATFORM_HOST_LABEL = "paas"  # the controller answers at paas.<PAAS_DOMAIN>
LEGACY_ROUTE_FILE = "paas-controller.yml"  # before scoping: one controller route per directory
_NAME_RE = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_SCOPE_RE = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?\Z")
_URL_RE = re.compile(r"\Ahttps?://[^\s/]+/?\Z")


def scope(platform: str) -> str:
    """The file-name scope of a platform (its KV prefix): the prefix itself when it is a short
    DNS label, else `h_` + a hash of it (an underscore never occurs in a label, so the two forms
    cannot collide). Never contains a dot, which separates the parts of a file name."""
    if not isinstance(platform, str) or not platform.strip("/"):
        raise ValueError("a platform (KV prefix) is required")
    if _SCOPE_RE.match(platform):
        return platform
    return "h_" + hashlib.sha256(platform.encode()).hexdigest()[:16]


def platform_host(platform_domain: str) -> str:
    return f"{PLATFORM_HOST_LABEL}.{platform_domain}"


def route_router_name(platform: str = DEFAULT_PLATFORM, name: str = PLATFORM_ROUTER) -> str:
    """Traefik's router (and service) name of a platform's controller route."""
    _check_name(name)
    return f"{scope(platform)}-{name}"


def platform_route(
    platform_domain: str, controller_urls: list[str], *, https: bool = True, name: str = PLATFORM_ROUTER,
    platform: str = DEFAULT_PLATFORM,
) -> dict:
    """The dynamic configuration routing paas.<platform_domain> to the controller(s): routers
    `<scope>-<name>` (HTTP) and `<scope>-<name>-secure` (HTTPS), service `<scope>-<name>`."""
    _check_name(name)
    if name == "cert" or name.startswith("cert-"):
        raise ValueError("route names starting with cert are taken by certificates")
    if not controller_urls or not all(isinstance(u, str) and _URL_RE.match(u) for u in controller_urls):
        raise ValueError("controller_urls must be one or more http(s)://host:port URLs")
    router = route_router_name(platform, name)
    rule = host_rule([platform_host(platform_domain)])
    routers = {router: {"rule": rule, "entryPoints": [HTTP_ENTRYPOINT], "service": router}}
    if https:
        routers[f"{router}-secure"] = {"rule": rule, "entryPoints": [HTTPS_ENTRYPOINT], "service": router, "tls": {}}
    servers = [{"url": u.rstrip("/")} for u in controller_urls]
    return {"http": {"routers": routers, "services": {router: {"loadBalancer": {"servers": servers}}}}}


def route_path(router_dir: Path | str, platform: str = DEFAULT_PLATFORM, name: str = PLATFORM_ROUTER) -> Path:
    _check_name(name)
    return Path(router_dir) / f"{scope(platform)}.{name}.yml"


def write_platform_route(
    router_dir: Path | str,
    platform_domain: str,
    controller_urls: list[str],
    *,
    https: bool = True,
    name: str = PLATFORM_ROUTER,
    platform: str = DEFAULT_PLATFORM,
) -> Path:
    """Route paas.<platform_domain> (HTTP, and HTTPS unless https=False) to the controller(s),
    in <router_dir>/<scope>.<name>.yml. Call it when the controller starts (urls: where it
    listens); platform: its KV prefix, so that another platform's route is never replaced."""
    config = platform_route(platform_domain, controller_urls, https=https, name=name, platform=platform)
    with _locked(router_dir) as root:
        path = route_path(root, platform, name)
        _atomic_write(path, _dump(config), 0o644)
        _remove_legacy_route(root, set(config["http"]["routers"]))
        return path


def remove_platform_route(router_dir: Path | str, name: str = PLATFORM_ROUTER, *,
                          platform: str = DEFAULT_PLATFORM) -> bool:
    with _locked(router_dir) as root:
        return _unlink(route_path(root, platform, name))


def write_certificate(router_dir: Path | str, name: str, cert_pem: str, key_pem: str, *,
                      platform: str = DEFAULT_PLATFORM) -> Path:
    """Install (or replace) certificate `name` (an app's name, or "paas") of the platform.
    Validate the pair first (paas.router.certs.validate): Traefik skips a bad pair."""
    _check_name(name)
    with _locked(router_dir) as root:
        return _write_certificate(root, scope(platform), name, cert_pem, key_pem)


def remove_certificate(router_dir: Path | str, name: str, *, platform: str = DEFAULT_PLATFORM) -> bool:
    """Stop serving the platform's certificate `name`; True if it was installed."""
    _check_name(name)
    with _locked(router_dir) as root:
        return _remove_certificate(root, scope(platform), name)


def list_certificates(router_dir: Path | str, *, platform: str = DEFAULT_PLATFORM) -> list[str]:
    """The names of the platform's installed certificates (never another platform's)."""
    root = Path(router_dir)
    if not root.is_dir():
        return []
    pattern = _cert_yml_re(scope(platform))
    return sorted(m["name"] for p in root.iterdir() if (m := pattern.match(p.name)))


def sync_certificates(router_dir: Path | str, certificates: Mapping[str, tuple[str, str]], *,
                      platform: str = DEFAULT_PLATFORM) -> None:
    """Make the directory hold exactly these certificates of the platform ({name: (cert_pem,
    key_pem)}), e.g. from the store at controller start. Other platforms' files stay."""
    for name in certificates:
        _check_name(name)
    own = scope(platform)
    with _locked(router_dir) as root:
        for name, (cert_pem, key_pem) in certificates.items():
            _write_certificate(root, own, name, cert_pem, key_pem)
        for name in set(list_certificates(root, platform=platform)) - set(certificates):
            _remove_certificate(root, own, name)


# ---------------------------------------------------------------- helpers

def _cert_yml_re(own: str) -> re.Pattern[str]:
    return re.compile(rf"\A{re.escape(own)}\.cert\.(?P<name>[a-z0-9-]+)\.yml\Z")


def _write_certificate(root: Path, own: str, name: str, cert_pem: str, key_pem: str) -> Path:
    digest = hashlib.sha256(cert_pem.encode()).hexdigest()[:12]
    base = f"{own}.cert.{name}"
    cert_file, key_file = root / f"{base}.{digest}.crt", root / f"{base}.{digest}.key"
    _atomic_write(cert_file, _pem(cert_pem), 0o600)
    _atomic_write(key_file, _pem(key_pem), 0o600)
    config = {"tls": {"certificates": [{"certFile": str(cert_file), "keyFile": str(key_file)}]}}
    path = root / f"{base}.yml"
    _atomic_write(path, _dump(config), 0o600)
    _remove_pems(root, own, name, keep={cert_file.name, key_file.name})
    return path


def _remove_certificate(root: Path, own: str, name: str) -> bool:
    existed = _unlink(root / f"{own}.cert.{name}.yml")
    _remove_pems(root, own, name, keep=set())
    return existed


def _remove_pems(root: Path, own: str, name: str, keep: set[str]) -> None:
    pattern = re.compile(rf"\A{re.escape(own)}\.cert\.{re.escape(name)}\.[0-9a-f]{{12}}\.(crt|key)\Z")
    for path in root.iterdir():
        if pattern.match(path.name) and path.name not in keep:
            _unlink(path)


def _remove_legacy_route(root: Path, routers: set[str]) -> None:
    """A controller route written before file names were scoped defines the same router names
    (paas-controller): Traefik would drop both as conflicting definitions."""
    legacy = root / LEGACY_ROUTE_FILE
    try:
        defined = set(json.loads(legacy.read_text())["http"]["routers"])
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return
    if defined & routers:
        _unlink(legacy)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"invalid name {str(name)[:40]!r}: use an app name")


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
