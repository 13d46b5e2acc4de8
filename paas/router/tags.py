"""Consul service tags: the contract between the schedulers, which register instances, and the
routers, which read them (Traefik's consulCatalog provider, consul-templates/ for HAProxy and
Traefik's file provider). Pure functions, no I/O; docs/router.md documents the format.

Every instance of process type `web` is registered as Consul service `<app>-web`
(`paas.domain.names.service`). A promoted instance carries `live_tags`, a canary `canary_tags`:

    paas                                    every instance the platform registered
    release=v<N>                            the release it runs
    live | canary                           routed, or not (yet)
    tls=force                               (live, tls:force on) plain HTTP redirects to HTTPS
    traefik.enable=true                     (live only) Traefik routes it
    traefik.http.routers.<R>.rule=Host(`app.paas.test`) || Host(`www.example.com`)
    traefik.http.routers.<R>.entrypoints=web
    traefik.http.routers.<R>.middlewares=<R>-retry        (<R>-https with tls:force)
    traefik.http.routers.<R>-secure.rule=<the same rule>
    traefik.http.routers.<R>-secure.entrypoints=websecure
    traefik.http.routers.<R>-secure.tls=true
    traefik.http.routers.<R>-secure.middlewares=<R>-retry
    traefik.http.middlewares.<R>-retry.retry.attempts=<n>
    traefik.http.middlewares.<R>-https.redirectscheme.scheme=https      (tls:force only)
    traefik.http.middlewares.<R>-https.redirectscheme.permanent=true    (tls:force only)
    traefik.http.middlewares.<R>-https.redirectscheme.port=<port>       (tls:force, port != 443)

The Traefik service needs no tags: the provider names it after the Consul service (`<app>-web`),
fills it with every passing instance's Address:Port, and links each router to it.

Router names: <R> = `<app>-<digest>`, where digest is a hash of the Traefik tags themselves.
Traefik merges the instances of one Consul service and *drops* a router (or middleware) that two
instances define differently. Instances are re-tagged one by one (domains:add, tls:force, a
deploy with other settings), so a shared name would take the app offline while old and new tags
coexist. With the digest, old and new routers coexist instead, both pointing at the same
service, and the old one disappears with the last instance that carries it.
"""

from __future__ import annotations

import hashlib

from paas.domain.apps import validate_app_name
from paas.domain.domains import app_hosts as app_hosts  # re-exported: part of the tag contract
from paas.domain.domains import validate_hostname

PLATFORM_TAG = "paas"
LIVE_TAG = "live"
CANARY_TAG = "canary"
TLS_FORCE_TAG = "tls=force"
RELEASE_TAG_PREFIX = "release=v"
TRAEFIK_PREFIX = "traefik"
TRAEFIK_ENABLE_TAG = f"{TRAEFIK_PREFIX}.enable=true"
# The entrypoints of the platform's Traefik (scripts/services.sh traefik).
HTTP_ENTRYPOINT = "web"
HTTPS_ENTRYPOINT = "websecure"
DEFAULT_RETRY_ATTEMPTS = 2
_NAME = "{router}"  # placeholder, replaced by the digest-named router


def release_tag(release: int) -> str:
    if not isinstance(release, int) or isinstance(release, bool) or release < 1:
        raise ValueError(f"release must be a positive integer, got {release!r}")
    return f"{RELEASE_TAG_PREFIX}{release}"


def host_rule(hosts: list[str]) -> str:
    """Traefik's rule matching any of hosts: Host(`a`) || Host(`b`) (Host() takes one name)."""
    if not hosts:
        raise ValueError("a router needs at least one host")
    # validate_hostname admits only [a-z0-9.-], so nothing can break out of the backquotes.
    return " || ".join(f"Host(`{validate_hostname(h)}`)" for h in hosts)


def live_tags(
    app: str,
    release: int,
    hosts: list[str],
    *,
    https: bool = True,
    force_tls: bool = False,
    https_port: int | None = None,
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS,
) -> list[str]:
    """Tags of a promoted (routed) instance of `<app>-web`.

    hosts: app_hosts(...). https: also route the HTTPS entrypoint (certificates are picked by
    SNI from the file provider's TLS store, else Traefik's default certificate). force_tls: the
    HTTP router only redirects to HTTPS (permanent); https_port: the port clients reach HTTPS on
    (Settings: PAAS_HTTPS_PORT), left out of the redirect when None or 443. retry_attempts:
    Traefik retries a request on another instance when an instance cannot be reached (0: off).
    """
    validate_app_name(app)
    if force_tls and not https:
        raise ValueError("force_tls needs https")
    if https_port is not None and not 0 < https_port < 65536:
        raise ValueError(f"invalid https_port {https_port!r}")
    if not 0 <= retry_attempts <= 10:
        raise ValueError("retry_attempts must be between 0 and 10")
    rule = host_rule(hosts)
    routers = f"{TRAEFIK_PREFIX}.http.routers"
    middlewares = f"{TRAEFIK_PREFIX}.http.middlewares"
    retry = f"{_NAME}-retry" if retry_attempts else None
    redirect = f"{_NAME}-https"
    tags = [
        f"{routers}.{_NAME}.rule={rule}",
        f"{routers}.{_NAME}.entrypoints={HTTP_ENTRYPOINT}",
    ]
    web_middleware = redirect if force_tls else retry
    if web_middleware:
        tags.append(f"{routers}.{_NAME}.middlewares={web_middleware}")
    if https:
        tags += [
            f"{routers}.{_NAME}-secure.rule={rule}",
            f"{routers}.{_NAME}-secure.entrypoints={HTTPS_ENTRYPOINT}",
            f"{routers}.{_NAME}-secure.tls=true",
        ]
        if retry:
            tags.append(f"{routers}.{_NAME}-secure.middlewares={retry}")
    if retry:
        tags.append(f"{middlewares}.{retry}.retry.attempts={retry_attempts}")
    if force_tls:
        tags += [
            f"{middlewares}.{redirect}.redirectscheme.scheme=https",
            f"{middlewares}.{redirect}.redirectscheme.permanent=true",
        ]
        if https_port not in (None, 443):
            tags.append(f"{middlewares}.{redirect}.redirectscheme.port={https_port}")
    digest = hashlib.sha256("\n".join(tags).encode()).hexdigest()[:8]
    name = f"{app}-{digest}"
    head = [PLATFORM_TAG, release_tag(release), LIVE_TAG, *([TLS_FORCE_TAG] if force_tls else [])]
    return [*head, TRAEFIK_ENABLE_TAG, *(t.replace(_NAME, name) for t in tags)]


def canary_tags(app: str, release: int) -> list[str]:
    """Tags of an instance not yet promoted: visible in Consul, never routed."""
    validate_app_name(app)
    return [PLATFORM_TAG, release_tag(release), CANARY_TAG]
