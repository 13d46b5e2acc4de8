"""paas.router.tags: the Consul tags the schedulers write and Traefik reads."""

from __future__ import annotations

import re

import pytest

from paas.domain import names
from paas.domain.errors import ValidationError
from paas.router import tags as t

HOSTS = ["myapp.paas.test", "www.example.com"]


def traefik_tags(tags: list[str]) -> dict[str, str]:
    return dict(tag.split("=", 1) for tag in tags if tag.startswith("traefik."))


def router_of(tags: list[str]) -> str:
    """The HTTP router's name in an instance's tags (traefik.http.routers.<name>.rule=...)."""
    return next(k.split(".")[3] for k in traefik_tags(tags) if k.startswith("traefik.http.routers."))


def test_app_hosts_platform_domain_first_then_custom_domains_deduplicated():
    assert t.app_hosts("myapp", ["www.example.com", "WWW.Example.com.", "api.example.com"], "paas.test") == [
        "myapp.paas.test", "www.example.com", "api.example.com",
    ]
    assert t.app_hosts("myapp", [], "apps.example.org") == ["myapp.apps.example.org"]
    assert t.app_hosts("myapp", ["myapp.paas.test"], "paas.test") == ["myapp.paas.test"]


@pytest.mark.parametrize("app,domains", [
    ("My_App", []), ("x", []), ("paas", []),  # not a DNS label / reserved
    ("myapp", ["evil`) || PathPrefix(`/"]), ("myapp", ["a b.com"]), ("myapp", ["nodots"]),
])
def test_app_hosts_rejects_what_could_break_a_rule(app, domains):
    with pytest.raises(ValidationError):
        t.app_hosts(app, domains, "paas.test")


def test_live_tags_exact_format():
    tags = t.live_tags("myapp", 7, HOSTS)
    r = router_of(tags)
    assert re.fullmatch(r"myapp-[0-9a-f]{8}", r)
    rule = "Host(`myapp.paas.test`) || Host(`www.example.com`)"
    assert tags == [
        "paas",
        "release=v7",
        "live",
        "traefik.enable=true",
        f"traefik.http.routers.{r}.rule={rule}",
        f"traefik.http.routers.{r}.entrypoints=web",
        f"traefik.http.routers.{r}.middlewares={r}-retry",
        f"traefik.http.routers.{r}-secure.rule={rule}",
        f"traefik.http.routers.{r}-secure.entrypoints=websecure",
        f"traefik.http.routers.{r}-secure.tls=true",
        f"traefik.http.routers.{r}-secure.middlewares={r}-retry",
        f"traefik.http.middlewares.{r}-retry.retry.attempts=2",
    ]
    # Consul gives Traefik the port: no loadbalancer.server.port tag, no explicit service.
    assert not any(".services." in tag for tag in tags)


def test_force_tls_redirects_http_and_names_the_https_port():
    tags = t.live_tags("myapp", 7, HOSTS, force_tls=True, https_port=8443)
    r = router_of(tags)
    conf = traefik_tags(tags)
    assert "tls=force" in tags
    assert conf[f"traefik.http.routers.{r}.middlewares"] == f"{r}-https"
    assert conf[f"traefik.http.middlewares.{r}-https.redirectscheme.scheme"] == "https"
    assert conf[f"traefik.http.middlewares.{r}-https.redirectscheme.permanent"] == "true"
    assert conf[f"traefik.http.middlewares.{r}-https.redirectscheme.port"] == "8443"
    assert conf[f"traefik.http.routers.{r}-secure.tls"] == "true"
    default_port = traefik_tags(t.live_tags("myapp", 7, HOSTS, force_tls=True, https_port=443))
    assert not any(k.endswith("redirectscheme.port") for k in default_port)
    assert "tls=force" not in t.live_tags("myapp", 7, HOSTS)
    with pytest.raises(ValueError):
        t.live_tags("myapp", 7, HOSTS, https=False, force_tls=True)


def test_http_only_and_no_retry():
    tags = t.live_tags("myapp", 1, HOSTS, https=False, retry_attempts=0)
    assert not any("secure" in tag or "middlewares" in tag for tag in tags)


def test_router_names_change_with_the_routing_config_only():
    """Instances carrying different Traefik tags must never share a router name: Traefik drops
    a router defined differently by two instances of one service (an outage while re-tagging)."""
    base = t.live_tags("myapp", 1, HOSTS)
    assert t.live_tags("myapp", 2, HOSTS)[3:] == base[3:]  # another release: same routers
    variants = [
        t.live_tags("myapp", 1, [*HOSTS, "api.example.com"]),
        t.live_tags("myapp", 1, HOSTS, force_tls=True),
        t.live_tags("myapp", 1, HOSTS, force_tls=True, https_port=8443),
        t.live_tags("myapp", 1, HOSTS, retry_attempts=3),
    ]
    names = {router_of(base)}
    for tags in variants:
        name = router_of(tags)
        assert name not in names
        names.add(name)


def test_router_and_middleware_names_are_valid_traefik_names():
    tags = t.live_tags("a-long-app-name-with-39-characters-xyz1", 3, ["a-long-app-name-with-39-characters-xyz1.paas.test"],
                       force_tls=True, https_port=8443)
    for key in traefik_tags(tags):
        parts = key.split(".")
        if parts[1] == "http" and parts[2] in ("routers", "middlewares"):
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", parts[3]), parts[3]


def test_canary_tags_carry_no_route():
    assert t.canary_tags("myapp", 4) == ["paas", "release=v4", "canary"]


@pytest.mark.parametrize("release", [0, -1, True, "3", 1.0])
def test_release_must_be_a_positive_int(release):
    with pytest.raises(ValueError):
        t.canary_tags("myapp", release)


def test_service_name():
    """The Consul service the routers read (the templates, Traefik's provider) is names.service."""
    assert names.service("myapp") == "myapp-web"
    assert names.service("myapp", "worker") == "myapp-worker"


def test_empty_hosts_rejected():
    with pytest.raises(ValueError):
        t.live_tags("myapp", 1, [])
