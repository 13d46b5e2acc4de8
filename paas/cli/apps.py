"""apps:* — create, list, inspect and destroy apps."""

from __future__ import annotations

import argparse

from . import gitutil
from .base import Context, Registry, page_params, prompt
from .client import api_path
from .errors import CLIError
from .output import (
    Progress,
    fmt_time,
    fmt_version,
    note,
    print_info,
    print_json,
    print_page_footer,
    print_table,
)


def register(reg: Registry) -> None:
    parser = reg.add("apps:create", cmd_create, "Create an app (and the 'paas' git remote)", json=True)
    parser.add_argument("name", nargs="?", help="app name (default: the controller picks one)")
    parser.add_argument("--no-remote", action="store_true", help="do not add the 'paas' git remote")
    reg.add("apps", cmd_list, "List the apps you can access", aliases=("apps:list",), json=True, paged=True)
    reg.add("apps:info", cmd_info, "Show an app", app=True, json=True)
    reg.add("apps:jobspec", cmd_jobspec,
            "Show what the scheduler runs for the live release (Nomad job HCL2, or Docker container specs)",
            app=True)
    parser = reg.add("apps:destroy", cmd_destroy, "Destroy an app, its releases and config", app=True)
    parser.add_argument("--confirm", metavar="APP", help="the app's name, to skip the prompt")


def cmd_create(ctx: Context, args: argparse.Namespace) -> None:
    client = ctx.client()
    body = {"name": args.name} if args.name else {}
    with Progress(f"Creating {args.name or 'app'}", quiet=args.json) as progress:
        app = client.post(api_path("apps"), body)
        progress.done(app["name"] if not args.name else "")
    say = note if args.json else print
    if args.json:
        print_json(app)
    git_url = app.get("git_url")
    if not git_url:
        return
    repo = None if args.no_remote else gitutil.open_repo(ctx.cwd)
    if repo is None:
        say(f"Git URL: {git_url}")
        return
    try:
        existing = gitutil.remote_url(repo)
        if existing is not None:
            say(f"Git remote {gitutil.REMOTE} already exists ({existing}); left unchanged. Git URL: {git_url}")
        else:
            gitutil.add_remote(repo, git_url)
            say(f"Git remote {gitutil.REMOTE} added: {git_url}")
    finally:
        repo.close()


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("apps"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [
        (a.get("name"), a.get("owner"), fmt_version(a.get("release")), fmt_time(a.get("created_at")))
        for a in page["results"]
    ]
    print_table(("NAME", "OWNER", "RELEASE", "CREATED"), rows, "You have no apps: create one with 'paas apps:create'")
    print_page_footer(page)


def cmd_info(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.client().get(api_path("apps", ctx.app(args)))
    if args.json:
        print_json(app)
        return
    print_info(
        app["name"],
        [
            ("Owner", app.get("owner")),
            ("Git URL", app.get("git_url")),
            ("Web URL", app.get("web_url")),
            ("Release", fmt_version(app.get("release"))),
            ("Domains", ", ".join(app.get("domains") or []) or "-"),
            ("Maintenance", "on" if app.get("maintenance") else "off"),
            ("Created", fmt_time(app.get("created_at"))),
        ],
    )


def cmd_destroy(ctx: Context, args: argparse.Namespace) -> None:
    ref = ctx.app_ref(args)
    name = ref.name
    client = ctx.client()
    confirm = args.confirm
    if confirm is None:
        print(f"This destroys {name}: its releases, config, domains and running processes.")
        confirm = prompt(f"To proceed, type the app name ({name})").strip()
    if confirm != name:
        raise CLIError(f"Confirmation did not match {name}: aborted")
    with Progress(f"Destroying {name}"):
        client.delete(api_path("apps", name))
    _drop_remote(ctx, name)


def _drop_remote(ctx: Context, name: str) -> None:
    """Remove the 'paas' remote when it points at the app just destroyed."""
    repo = gitutil.open_repo(ctx.cwd)
    if repo is None:
        return
    try:
        url = gitutil.remote_url(repo)
        if url and gitutil.app_from_git_url(url) == name:
            try:
                gitutil.remove_remote(repo)
            except CLIError as exc:
                note(f"Warning: {exc}")
            else:
                print(f"Git remote {gitutil.REMOTE} removed")
    finally:
        repo.close()


def cmd_jobspec(ctx: Context, args: argparse.Namespace) -> None:
    with ctx.client().stream("GET", api_path("apps", ctx.app(args), "jobspec"), accept="text/plain") as response:
        print(response.text, end="")
