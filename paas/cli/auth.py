"""auth:* — accounts and the stored token."""

from __future__ import annotations

import argparse

from .base import Context, Registry, prompt
from .client import api_path
from .errors import APIError, CLIError
from .output import fmt_time, note, print_json, print_table
from .settings import normalize_url, save_file, settings_path


def register(reg: Registry) -> None:
    parser = reg.add("auth:register", cmd_register, "Create an account on a controller and log in")
    parser.add_argument("url", nargs="?", help="controller URL (default: the stored one or PAAS_URL)")
    parser.add_argument("--username")
    parser.add_argument("--password", help="prompted for when omitted (safer than the command line)")
    parser.add_argument("--email")

    parser = reg.add("auth:login", cmd_login, "Log in to a controller and store the token")
    parser.add_argument("url", nargs="?", help="controller URL, e.g. http://127.0.0.1:8000 (default: the stored one)")
    parser.add_argument("--username")
    parser.add_argument("--password", help="prompted for when omitted (safer than the command line)")

    reg.add("auth:logout", cmd_logout, "Revoke the token on the controller and forget it here")
    reg.add("auth:whoami", cmd_whoami, "Show the logged-in user", json=True)
    reg.add("auth:token", cmd_token, "Print the API token (for scripts: keep it secret)")
    reg.add("auth:tokens", cmd_tokens, "List your API tokens (ids and expiry, never the tokens)", json=True)
    parser = reg.add("auth:tokens:revoke", cmd_tokens_revoke, "Revoke one of your API tokens by id")
    parser.add_argument("id", metavar="ID", help="the token's id, from 'paas auth:tokens'")


def _credentials(args: argparse.Namespace, confirm: bool) -> tuple[str, str, bool]:
    """(username, password, whether the username was prompted for)."""
    prompted = not args.username
    username = args.username or prompt("Username")
    password = args.password
    if not password:
        password = prompt("Password", secret=True)
        if confirm and password != prompt("Password (again)", secret=True):
            raise CLIError("The passwords do not match")
    if not username.strip() or not password:
        raise CLIError("A username and a password are required")
    return username.strip(), password, prompted


def _store_login(ctx: Context, url: str, username: str, token: str) -> None:
    stored = ctx.stored
    stored.url, stored.username, stored.token = url, username, token
    save_file(stored, ctx.environ)
    if ctx.environ.get("PAAS_TOKEN"):
        note("Note: PAAS_TOKEN is set and overrides the stored token")
    env_url = ctx.environ.get("PAAS_URL")
    if env_url and normalize_url(env_url) != url:
        note("Note: PAAS_URL is set and overrides the stored URL")


def cmd_register(ctx: Context, args: argparse.Namespace) -> None:
    url = ctx.controller_url(args.url)
    username, password, prompted = _credentials(args, confirm=True)
    email = args.email
    if email is None and prompted:
        email = prompt("Email (optional)").strip() or None
    body = {"username": username, "password": password}
    if email:
        body["email"] = email
    user = ctx.anonymous_client(url).post(api_path("auth", "register"), body)
    _store_login(ctx, url, user["username"], user["token"])
    print(f"Registered {user['username']} at {url}; you are logged in")


def cmd_login(ctx: Context, args: argparse.Namespace) -> None:
    url = ctx.controller_url(args.url)
    username, password, _ = _credentials(args, confirm=False)
    result = ctx.anonymous_client(url).post(api_path("auth", "login"), {"username": username, "password": password})
    _store_login(ctx, url, result["username"], result["token"])
    print(f"Logged in as {result['username']} at {url}")


def cmd_logout(ctx: Context, args: argparse.Namespace) -> int:
    settings = ctx.settings
    if not settings.token:
        print("Not logged in")
        return 0
    failure = None
    if settings.url:
        try:
            ctx.client().post(api_path("auth", "logout"))
        except APIError as exc:
            # 401: the token is already invalid, which is what logging out wants.
            if exc.status != 401:
                failure = exc.message
        except CLIError as exc:
            failure = str(exc)
    stored = ctx.stored
    if stored.token or stored.username:
        stored.token = None
        stored.username = None
        save_file(stored, ctx.environ)
    if ctx.environ.get("PAAS_TOKEN"):
        note("Note: PAAS_TOKEN is still set in your environment")
    if failure:
        note(f"Warning: the token could not be revoked on the controller: {failure}")
        print(f"Removed the token from {settings_path(ctx.environ)}")
        return 1
    print("Logged out")
    return 0


def cmd_whoami(ctx: Context, args: argparse.Namespace) -> None:
    user = ctx.client().get(api_path("auth", "whoami"))
    if args.json:
        print_json(user)
        return
    print(user["username"])


def cmd_token(ctx: Context, args: argparse.Namespace) -> None:
    token = ctx.settings.token
    if not token:
        raise CLIError("Not logged in: run 'paas auth:login URL'")
    print(token)


def cmd_tokens(ctx: Context, args: argparse.Namespace) -> None:
    tokens = ctx.client().get(api_path("auth", "tokens"))
    if args.json:
        print_json(tokens)
        return
    rows = [(t.get("id"), fmt_time(t.get("created_at")), fmt_time(t.get("expires_at")),
             "(this one)" if t.get("current") else "") for t in tokens]
    print_table(("ID", "CREATED", "EXPIRES", ""), rows, "No tokens")


def cmd_tokens_revoke(ctx: Context, args: argparse.Namespace) -> None:
    ctx.client().delete(api_path("auth", "tokens", args.id))
    print(f"Revoked token {args.id}")
