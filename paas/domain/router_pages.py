"""The pages the router shows when no instance of an app answers: which page a request gets,
and the page itself (HTML, plain text or JSON). Pure: the controller's /_router/page view asks
services/router_pages.py for the facts and this module for the words.

Everything shown is treated as hostile. The Host header is the client's: it is shown only when
it is a valid hostname (so only [a-z0-9.-]), capped, and HTML-escaped anyway; the app name is
a validated name and is escaped too. docs/router.md ("Router pages") says how requests get here.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from enum import Enum

from .domains import HOSTNAME_RE, MAX_HOSTNAME_LENGTH

# Where the controller serves the pages; the router's fallback and maintenance routes rewrite
# every path to this one, so they never reach the API itself.
PAGE_PATH = "/_router/page"
HTML, TEXT, JSON = "text/html", "text/plain", "application/json"
MEDIA_TYPES = (HTML, JSON, TEXT)  # the first is the default (a browser, or Accept: */*)
# A Host header longer than this is not looked up at all (a hostname has at most 253 characters,
# plus ":port").
MAX_HOST_HEADER = 300


class PageKind(Enum):
    UNKNOWN_HOST = "unknown_host"
    NOT_DEPLOYED = "not_deployed"
    STARTING = "starting"
    NO_WEB = "no_web"
    UNHEALTHY = "unhealthy"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True)
class AppFacts:
    """What the store says about the app a host belongs to."""

    name: str
    maintenance: bool = False
    live_release: int | None = None  # None: nothing ever went live
    deploying: bool = False  # a deployment is in flight
    web_quantity: int = 1


@dataclass(frozen=True)
class RouterPage:
    kind: PageKind
    status: int
    title: str
    message: str
    app: str | None = None
    host: str | None = None  # the request's hostname, only when it is a valid one

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.kind.value, "app": self.app, "message": self.message}


def request_hostname(host_header: str | None) -> str | None:
    """The hostname a Host header names (lowercase, without port and final dot), or None when
    it is missing, too long or not a hostname: such a header is never looked up nor shown."""
    if not host_header or len(host_header) > MAX_HOST_HEADER:
        return None
    host = host_header.strip()
    if host.startswith("["):
        return None  # an IPv6 literal: no app is served at an address
    name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    if port and not port.isdigit():
        return None
    name = name.lower().rstrip(".")
    if not name or len(name) > MAX_HOSTNAME_LENGTH or not HOSTNAME_RE.match(name):
        return None
    return name


def page_for(host: str | None, app: AppFacts | None) -> RouterPage:
    """The page for a request to `host` (request_hostname's result) that no instance answered;
    app: the facts of the app the host belongs to, None when it belongs to none."""
    if app is None:
        where = host or "this address"
        return RouterPage(PageKind.UNKNOWN_HOST, 404, "No app here",
                          f"There is no app at {where}. Check the address, or add the domain to an app "
                          "with paas domains:add.", host=host)
    name = app.name
    if app.maintenance:
        return RouterPage(PageKind.MAINTENANCE, 503, f"{name} is in maintenance",
                          f"{name} is in maintenance. Please try again in a few minutes.", name, host)
    if app.live_release is None:
        if app.deploying:
            return RouterPage(PageKind.STARTING, 503, f"{name} is starting",
                              f"{name} is being deployed and not serving yet. Try again in a moment.", name, host)
        return RouterPage(PageKind.NOT_DEPLOYED, 503, f"{name} has not been deployed",
                          f"{name} has no running instances: nothing has been deployed yet (git push paas main).",
                          name, host)
    if app.web_quantity < 1:
        return RouterPage(PageKind.NO_WEB, 503, f"{name} has no web processes",
                          f"{name} has no web processes running (paas ps:scale web=1 starts one).", name, host)
    return RouterPage(PageKind.UNHEALTHY, 503, f"{name} is not responding",
                      f"{name} has no healthy instance right now: it crashed, is restarting or fails its "
                      "health check. The owner can look at paas ps and paas logs.", name, host)


def negotiate(accept_best: str | None) -> str:
    """The media type to answer with, from the client's best match among MEDIA_TYPES."""
    return accept_best if accept_best in MEDIA_TYPES else HTML


def render(page: RouterPage, media_type: str) -> tuple[str, str]:
    """(body, Content-Type header) of the page in one of MEDIA_TYPES."""
    if media_type == JSON:
        return json.dumps(page.to_dict(), sort_keys=True) + "\n", "application/json"
    if media_type == TEXT:
        return f"{page.status} {page.title}\n\n{page.message}\n", "text/plain; charset=utf-8"
    return render_html(page), "text/html; charset=utf-8"


def render_html(page: RouterPage) -> str:
    title = html.escape(page.title, quote=True)
    message = html.escape(page.message, quote=True)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{page.status} {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f6f7f9; color: #1f2430; margin: 0; }}
main {{ max-width: 36rem; margin: 15vh auto; padding: 2rem; background: #fff; border-radius: 8px;
        box-shadow: 0 1px 4px rgba(0, 0, 0, .1); }}
h1 {{ font-size: 1.4rem; margin: 0 0 1rem; }}
p {{ line-height: 1.5; }}
.status {{ color: #6b7280; font-size: .9rem; }}
</style>
</head>
<body>
<main>
<p class="status">{page.status}</p>
<h1>{title}</h1>
<p>{message}</p>
</main>
</body>
</html>
"""
