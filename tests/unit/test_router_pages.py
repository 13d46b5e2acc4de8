"""Router pages without services: which page a host gets, how it reads in HTML, text and JSON
(hostile hosts never reflected), the fallback and maintenance routes the router reads, the
maintenance use case over the fakes, and the CLI's maintenance and open commands."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from paas.api.server import publish_controller_route
from paas.config import Settings
from paas.domain.apps import App
from paas.domain.deployments import Deployment, DeployState
from paas.domain.errors import NotFound, PermissionDenied, ValidationError
from paas.domain.formation import Formation, ProcessSpec
from paas.domain.router_pages import (
    HTML,
    JSON,
    PAGE_PATH,
    TEXT,
    AppFacts,
    PageKind,
    negotiate,
    page_for,
    render,
    request_hostname,
)
from paas.domain.users import User
from paas.router import files
from paas.services.apps import AppService
from paas.services.maintenance import MaintenanceService
from paas.services.router_pages import RouterPageService
from tests.fakes import FakePlatform

ALICE = User("alice", "x")
BOB = User("bob", "x")


# --- hosts --------------------------------------------------------------------------------

@pytest.mark.parametrize("header, host", [
    ("shop.paas.test", "shop.paas.test"),
    ("Shop.PAAS.test:8080", "shop.paas.test"),
    ("www.example.com.", "www.example.com"),
    (None, None),
    ("", None),
    ("<script>alert(1)</script>", None),
    ("x'onmouseover=alert(1)'.test", None),
    ("a.test:80x", None),
    ("[::1]:8080", None),
    ("127.0.0.1", None),
    ("a" * 64 + ".test", None),
    ("a." * 200 + "test", None),
])
def test_only_valid_hostnames_are_looked_up(header: str | None, host: str | None) -> None:
    assert request_hostname(header) == host


# --- which page ---------------------------------------------------------------------------

def test_page_for_each_state() -> None:
    unknown = page_for("nope.example.com", None)
    assert (unknown.kind, unknown.status, unknown.app) == (PageKind.UNKNOWN_HOST, 404, None)
    assert "nope.example.com" in unknown.message
    assert "this address" in page_for(None, None).message
    cases = {
        PageKind.NOT_DEPLOYED: AppFacts("shop"),
        PageKind.STARTING: AppFacts("shop", deploying=True),
        PageKind.NO_WEB: AppFacts("shop", live_release=3, web_quantity=0),
        PageKind.UNHEALTHY: AppFacts("shop", live_release=3),
        PageKind.MAINTENANCE: AppFacts("shop", maintenance=True, live_release=3),
    }
    for kind, facts in cases.items():
        page = page_for("shop.paas.test", facts)
        assert (page.kind, page.status, page.app) == (kind, 503, "shop")
        assert "shop" in page.title and "shop" in page.message
    assert page_for("shop.paas.test", cases[PageKind.MAINTENANCE]).title == "shop is in maintenance"


# --- rendering ----------------------------------------------------------------------------

def test_html_text_and_json_bodies() -> None:
    page = page_for("shop.paas.test", AppFacts("shop", maintenance=True))
    body, content_type = render(page, HTML)
    assert content_type == "text/html; charset=utf-8"
    assert body.startswith("<!DOCTYPE html>") and "<h1>shop is in maintenance</h1>" in body
    assert "<script" not in body
    body, content_type = render(page, TEXT)
    assert content_type.startswith("text/plain")
    assert body.splitlines()[0] == "503 shop is in maintenance"
    body, content_type = render(page, JSON)
    assert content_type == "application/json"
    assert json.loads(body) == {"status": 503, "reason": "maintenance", "app": "shop", "message": page.message}


def test_everything_shown_is_escaped() -> None:
    # Neither a hostname nor an app name can hold markup; the renderer escapes regardless.
    body, _ = render(page_for('"><script>alert(1)</script>', None), HTML)
    assert "<script>" not in body and '"><' not in body
    assert "&quot;&gt;&lt;script&gt;" in body
    body, _ = render(page_for("shop.paas.test", AppFacts("<b>x</b>&'", maintenance=True)), HTML)
    assert "<b>" not in body and "'" not in body.split("<main>")[1]
    assert "&lt;b&gt;x&lt;/b&gt;&amp;&#x27;" in body


def test_negotiation_defaults_to_html() -> None:
    assert negotiate(None) == HTML
    assert negotiate("image/png") == HTML
    assert negotiate(JSON) == JSON
    assert negotiate(TEXT) == TEXT


# --- the facts, from the store (fakes) ----------------------------------------------------

def test_router_page_service_reads_the_store() -> None:
    platform = FakePlatform()
    service = RouterPageService(platform.apps, platform.states, platform.formations, "paas.test")
    platform.create_app("shop")
    app, index = platform.apps.get("shop")
    platform.apps.add_domain(App.from_dict({**app.to_dict(), "domains": ["www.shop.example"]}), index,
                             "www.shop.example")

    assert service.page("shop.paas.test").kind == PageKind.NOT_DEPLOYED
    assert service.page("WWW.shop.example:443").app == "shop"
    assert service.page("ghost.paas.test").kind == PageKind.UNKNOWN_HOST
    assert service.page("paas.paas.test").kind == PageKind.UNKNOWN_HOST  # reserved: never an app
    assert service.page("deep.shop.paas.test").kind == PageKind.UNKNOWN_HOST
    assert service.page("<shop>").kind == PageKind.UNKNOWN_HOST

    platform.states.put("shop", DeployState(current=Deployment(id="d1", app="shop", release=2)), 0)
    assert service.page("shop.paas.test").kind == PageKind.STARTING
    state, index = platform.states.get("shop")
    platform.states.put("shop", DeployState(live_release=2), index)
    platform.change_formation("shop", lambda f: Formation(app="shop", processes={"web": ProcessSpec(quantity=1)}))
    assert service.page("shop.paas.test").kind == PageKind.UNHEALTHY
    platform.change_formation("shop", lambda f: Formation(app="shop", processes={"web": ProcessSpec(quantity=0)}))
    assert service.page("shop.paas.test").kind == PageKind.NO_WEB


# --- maintenance --------------------------------------------------------------------------

class RecordingRouter:
    def __init__(self) -> None:
        self.diverted: dict[str, list[str]] = {}

    def divert(self, app: str, hosts: list[str]) -> None:
        self.diverted[app] = hosts

    def restore(self, app: str) -> None:
        self.diverted.pop(app, None)

    def sync(self, diverted: dict[str, list[str]]) -> None:
        self.diverted = dict(diverted)


def test_maintenance_toggles_the_flag_and_the_route() -> None:
    platform = FakePlatform()
    platform.create_app("shop", owner="alice")
    app, index = platform.apps.get("shop")
    platform.apps.update(App.from_dict({**app.to_dict(), "members": ["bob"]}), index)
    router = RecordingRouter()
    service = MaintenanceService(platform.apps, AppService(platform.apps), router, "paas.test")

    assert service.status(ALICE, "shop") is False
    with pytest.raises(PermissionDenied):
        service.set(BOB, "shop", True)  # collaborators deploy; the owner decides on maintenance
    with pytest.raises(NotFound):
        service.set(User("eve", "x"), "shop", True)
    assert router.diverted == {}

    assert service.set(ALICE, "shop", True) is True
    assert service.status(BOB, "shop") is True
    assert router.diverted == {"shop": ["shop.paas.test"]}
    app, index = platform.apps.get("shop")
    platform.apps.update(App.from_dict({**app.to_dict(), "domains": ["www.shop.example"]}), index)
    service.refresh("shop")  # what domains:add calls
    assert router.diverted == {"shop": ["shop.paas.test", "www.shop.example"]}

    router.diverted = {"gone": ["gone.paas.test"]}
    service.sync()
    assert router.diverted == {"shop": ["shop.paas.test", "www.shop.example"]}

    assert service.set(ALICE, "shop", False) is False
    assert router.diverted == {}
    assert platform.apps.get("shop")[0].maintenance is False


# --- the routes Traefik reads -------------------------------------------------------------

CONTROLLER = ["http://127.0.0.1:8000"]


def test_fallback_routes_never_outrank_a_real_route() -> None:
    config = files.fallback_route("paas.test", CONTROLLER, platform="paas")["http"]
    routers = config["routers"]
    assert set(routers) == {"paas-fallback", "paas-fallback-secure", "paas-fallback-any", "paas-fallback-any-secure"}
    assert routers["paas-fallback"]["rule"] == r"HostRegexp(`(?i)^.+\.paas\.test$`)"
    assert routers["paas-fallback-any"]["rule"] == "PathPrefix(`/`)"
    shortest_app_rule = "Host(`abc.x.y`)"  # Traefik's default priority is the rule's length
    assert all(r["priority"] < len(shortest_app_rule) for r in routers.values())
    assert routers["paas-fallback-secure"]["tls"] == {} and routers["paas-fallback-secure"]["entryPoints"] == ["websecure"]
    # Every path is replaced: a fallback route never reaches the API itself.
    assert all(r["middlewares"] == ["paas-fallback-page"] for r in routers.values())
    assert config["middlewares"] == {"paas-fallback-page": {"replacePath": {"path": PAGE_PATH}}}
    assert config["services"]["paas-fallback"]["loadBalancer"]["servers"] == [{"url": "http://127.0.0.1:8000"}]
    with pytest.raises(ValidationError):
        files.fallback_route("paas.test`) || Host(`x", CONTROLLER)


def test_maintenance_route_outranks_the_app_and_leaves_acme_alone() -> None:
    config = files.maintenance_route("shop", ["shop.paas.test", "www.shop.example"], CONTROLLER)["http"]
    router = config["routers"]["paas-maintenance-shop"]
    assert router["rule"] == ("(Host(`shop.paas.test`) || Host(`www.shop.example`)) && "
                              "!PathPrefix(`/.well-known/acme-challenge/`)")
    longest_app_rule = len(" || ".join(f"Host(`{'a' * 249}.com`)" for _ in range(51)))
    assert router["priority"] > longest_app_rule
    assert config["middlewares"]["paas-maintenance-shop-page"] == {"replacePath": {"path": PAGE_PATH}}
    assert "paas-maintenance-shop" in config["services"]


def test_maintenance_files_are_scoped_and_synced(tmp_path: Path) -> None:
    files.write_maintenance_route(tmp_path, "shop", ["shop.paas.test"], CONTROLLER, platform="paas")
    files.write_maintenance_route(tmp_path, "blog", ["blog.paas.test"], CONTROLLER, platform="other")
    files.write_fallback_route(tmp_path, "paas.test", CONTROLLER, platform="paas")
    assert files.list_maintenance_routes(tmp_path, platform="paas") == ["shop"]
    assert json.loads((tmp_path / "paas.maintenance.shop.yml").read_text())["http"]["routers"]
    files.sync_maintenance_routes(tmp_path, {"cart": ["cart.paas.test"]}, CONTROLLER, platform="paas")
    assert files.list_maintenance_routes(tmp_path, platform="paas") == ["cart"]
    assert files.list_maintenance_routes(tmp_path, platform="other") == ["blog"]
    assert files.remove_maintenance_route(tmp_path, "cart", platform="paas") is True
    assert files.remove_maintenance_route(tmp_path, "cart", platform="paas") is False
    assert (tmp_path / "paas.fallback.yml").is_file()
    assert files.remove_fallback_route(tmp_path, platform="paas") is True
    with pytest.raises(ValueError):
        files.write_maintenance_route(tmp_path, "../x", ["x.paas.test"], CONTROLLER)


# --- settings and controller start --------------------------------------------------------

def test_app_url_and_controller_upstream() -> None:
    settings = replace(Settings(), platform_domain="paas.test", http_port=8080, https_port=443, bind="0.0.0.0:8123")
    assert settings.app_url("shop") == "http://shop.paas.test:8080/"
    assert settings.app_url("shop", tls=True) == "https://shop.paas.test/"
    assert settings.controller_upstream == "http://127.0.0.1:8123"


def test_controller_start_publishes_its_route_and_the_pages(tmp_path: Path) -> None:
    publish_controller_route(replace(Settings(), router_dir=tmp_path, bind="127.0.0.1:8123", kv_prefix="paas"))
    fallback = json.loads((tmp_path / "paas.fallback.yml").read_text())["http"]
    assert fallback["services"]["paas-fallback"]["loadBalancer"]["servers"] == [{"url": "http://127.0.0.1:8123"}]
    assert (tmp_path / "paas.controller.yml").is_file()
