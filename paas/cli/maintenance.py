"""maintenance:* and open — the app's maintenance page, and its URL."""

from __future__ import annotations

import argparse
import os
import webbrowser

from .base import Context, Registry
from .client import api_path
from .errors import CLIError
from .output import Progress, print_json


def register(reg: Registry) -> None:
    reg.add("maintenance", cmd_status, "Show whether the app is in maintenance", aliases=("maintenance:info",),
            app=True, json=True)
    reg.add("maintenance:on", cmd_on, "Answer the app's hosts with a 503 maintenance page (instances keep running)",
            app=True, group="maintenance")
    reg.add("maintenance:off", cmd_off, "Serve the app again", app=True, group="maintenance")
    parser = reg.add("open", cmd_open, "Print the app's URL (and open it in a browser on a desktop)", app=True,
                     group="apps")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")


def cmd_status(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    state = ctx.client().get(api_path("apps", app, "maintenance"))
    if args.json:
        print_json(state)
    else:
        print(f"{app}: maintenance {'on' if state.get('enabled') else 'off'}")


def _set(ctx: Context, args: argparse.Namespace, enabled: bool) -> None:
    app = ctx.app(args)
    with Progress(f"{'Enabling' if enabled else 'Disabling'} maintenance mode for {app}"):
        ctx.client().request("PUT", api_path("apps", app, "maintenance"), body={"enabled": enabled})


def cmd_on(ctx: Context, args: argparse.Namespace) -> None:
    _set(ctx, args, True)


def cmd_off(ctx: Context, args: argparse.Namespace) -> None:
    _set(ctx, args, False)


def cmd_open(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.client().get(api_path("apps", ctx.app(args)))
    url = app.get("web_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise CLIError(f"The controller did not say where {ctx.app(args)} answers")
    print(url)
    # Only on a desktop: without a display, webbrowser would start a text browser in this terminal.
    if not args.no_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        webbrowser.open(url)
