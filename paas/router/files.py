"""Dynamic configuration for Traefik's file provider, in the router directory it watches
(PAAS_ROUTER_DIR, default .run/router; scripts/services.sh points Traefik at it).

Several platforms may share one router directory (one Traefik on a host): every file a
platform writes is named after its scope (`scope(PAAS_KV_PREFIX)`), and a platform lists,
replaces, syncs and removes only files of its own scope:

    <S>.controller.yml                the controller's route: paas.<PAAS_DOMAIN> -> controller
                                      (Traefik routers <S>-controller and <S>-controller-secure)
    <S>.fallback.yml                  the router pages: hosts no other route takes -> the
                                      controller's /_router/page (404 unknown host, 503 app
                                      without a healthy instance); lowest priorities
    <S>.maintenance.<app>.yml         an app in maintenance: its hosts -> the page, ahead of
                                      its own routes (its instances keep running)
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

from paas.domain.domains import validate_hostname
from paas.domain.router_pages import PAGE_PATH

from .tags import HTTP_ENTRYPOINT, HTTPS_ENTRYPOINT, host_rule

DEFAULT_PLATFORM = "paas"  # Settings.kv_prefix's default
PLATFORM_ROUTER = "controller"
PLATFORM_HOST_LABEL = "paas"  # the controller answers at paas.<PAAS_DOMAIN>
FALLBACK_ROUTE = "fallback"
# Traefik's default priority of a router is the length of its rule; an app's rule is at least
# Host(`abc.x.y`) long (over 10), so these never take a host that has a route of its own.
FALLBACK_DOMAIN_PRIORITY = 2  # any name under this platform's domain
FALLBACK_ANY_PRIORITY = 1  # any other host (a custom domain without instances, or no app at all)
# Ahead of every app route (the longest possible rule, 50 domains of 253 characters, is ~14,000).
MAINTENANCE_PRIORITY = 1_000_000
# Let's Encrypt HTTP-01 challenges still reach the app while it is in maintenance.
ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
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


def fallback_route(platform_domain: str, controller_urls: list[str], *, https: bool = True,
                   platform: str = DEFAULT_PLATFORM) -> dict:
    """The router pages: every request no other router takes goes to the controller's
    PAGE_PATH (its path replaced, so the API is never reachable this way), which answers 404
    for a host of no app and 503 naming the app for one without a healthy instance. Two
    routers per entrypoint: the platform's own domain (priority 2, so this platform answers
    for its names even when another platform's catch-all shares the Traefik) and any host
    (priority 1)."""
    domain = validate_hostname(platform_domain)
    name = route_router_name(platform, FALLBACK_ROUTE)
    own = "HostRegexp(`(?i)^.+\\." + domain.replace(".", "\\.") + "$`)"
    routers: dict[str, dict] = {}
    for suffix, rule, priority in (("", own, FALLBACK_DOMAIN_PRIORITY), ("-any", "PathPrefix(`/`)", FALLBACK_ANY_PRIORITY)):
        routers[f"{name}{suffix}"] = _page_router(rule, priority, HTTP_ENTRYPOINT, name)
        if https:
            routers[f"{name}{suffix}-secure"] = {**_page_router(rule, priority, HTTPS_ENTRYPOINT, name), "tls": {}}
    return {"http": {"routers": routers, **_page_backend(name, controller_urls)}}


def write_fallback_route(router_dir: Path | str, platform_domain: str, controller_urls: list[str], *,
                         https: bool = True, platform: str = DEFAULT_PLATFORM) -> Path:
    """Install the router pages (call it with the controller's route, at controller start)."""
    config = fallback_route(platform_domain, controller_urls, https=https, platform=platform)
    with _locked(router_dir) as root:
        path = route_path(root, platform, FALLBACK_ROUTE)
        _atomic_write(path, _dump(config), 0o644)
        return path


def remove_fallback_route(router_dir: Path | str, *, platform: str = DEFAULT_PLATFORM) -> bool:
    with _locked(router_dir) as root:
        return _unlink(route_path(root, platform, FALLBACK_ROUTE))


def maintenance_route(app: str, hosts: list[str], controller_urls: list[str], *, https: bool = True,
                      platform: str = DEFAULT_PLATFORM) -> dict:
    """The app's hosts -> the controller's PAGE_PATH, at a priority above any app route; the
    file defines its own service and middleware, so it works whatever else the directory holds."""
    _check_name(app)
    name = f"{scope(platform)}-maintenance-{app}"
    rule = f"({host_rule(hosts)}) && !PathPrefix(`{ACME_CHALLENGE_PREFIX}`)"
    routers = {name: _page_router(rule, MAINTENANCE_PRIORITY, HTTP_ENTRYPOINT, name)}
    if https:
        routers[f"{name}-secure"] = {**_page_router(rule, MAINTENANCE_PRIORITY, HTTPS_ENTRYPOINT, name), "tls": {}}
    return {"http": {"routers": routers, **_page_backend(name, controller_urls)}}


def write_maintenance_route(router_dir: Path | str, app: str, hosts: list[str], controller_urls: list[str], *,
                            https: bool = True, platform: str = DEFAULT_PLATFORM) -> Path:
    config = maintenance_route(app, hosts, controller_urls, https=https, platform=platform)
    with _locked(router_dir) as root:
        path = _maintenance_path(root, scope(platform), app)
        _atomic_write(path, _dump(config), 0o644)
        return path


def remove_maintenance_route(router_dir: Path | str, app: str, *, platform: str = DEFAULT_PLATFORM) -> bool:
    _check_name(app)
    with _locked(router_dir) as root:
        return _unlink(_maintenance_path(root, scope(platform), app))


def list_maintenance_routes(router_dir: Path | str, *, platform: str = DEFAULT_PLATFORM) -> list[str]:
    """The apps of the platform whose hosts go to the maintenance page."""
    root = Path(router_dir)
    if not root.is_dir():
        return []
    pattern = re.compile(rf"\A{re.escape(scope(platform))}\.maintenance\.(?P<name>[a-z0-9-]+)\.yml\Z")
    return sorted(m["name"] for p in root.iterdir() if (m := pattern.match(p.name)))


def sync_maintenance_routes(router_dir: Path | str, diverted: Mapping[str, list[str]], controller_urls: list[str],
                            *, https: bool = True, platform: str = DEFAULT_PLATFORM) -> None:
    """Make the directory hold exactly these apps' maintenance routes ({app: hosts})."""
    configs = {app: maintenance_route(app, hosts, controller_urls, https=https, platform=platform)
               for app, hosts in diverted.items()}
    own = scope(platform)
    with _locked(router_dir) as root:
        for app, config in configs.items():
            _atomic_write(_maintenance_path(root, own, app), _dump(config), 0o644)
        for app in set(list_maintenance_routes(root, platform=platform)) - set(configs):
            _unlink(_maintenance_path(root, own, app))


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

def _page_router(rule: str, priority: int, entrypoint: str, name: str) -> dict:
    return {"rule": rule, "priority": priority, "entryPoints": [entrypoint], "service": name,
            "middlewares": [f"{name}-page"]}


def _page_backend(name: str, controller_urls: list[str]) -> dict:
    """The service (the controller) and the middleware that sends every path to PAGE_PATH
    (the query string stays, and is ignored)."""
    if not controller_urls or not all(isinstance(u, str) and _URL_RE.match(u) for u in controller_urls):
        raise ValueError("controller_urls must be one or more http(s)://host:port URLs")
    servers = [{"url": u.rstrip("/")} for u in controller_urls]
    return {"middlewares": {f"{name}-page": {"replacePath": {"path": PAGE_PATH}}},
            "services": {name: {"loadBalancer": {"servers": servers}}}}


def _maintenance_path(root: Path, own: str, app: str) -> Path:
    return root / f"{own}.maintenance.{app}.yml"


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
