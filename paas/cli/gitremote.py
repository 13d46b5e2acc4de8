"""git:remote — point a repo's "paas" remote at an existing app."""

from __future__ import annotations

import argparse

from . import gitutil
from .base import Context, Registry
from .client import api_path
from .errors import CLIError


def register(reg: Registry) -> None:
    parser = reg.add("git:remote", cmd_remote, "Add the 'paas' git remote for an app to this repo", app=True)
    parser.add_argument("--remote", default=gitutil.REMOTE, help="remote name (default %(default)s)")


def cmd_remote(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.client().get(api_path("apps", ctx.app(args)))
    repo = gitutil.open_repo(ctx.cwd)
    if repo is None:
        raise CLIError("Not inside a git repository: run 'git init' first")
    try:
        existing = gitutil.remote_url(repo, args.remote)
        if existing == app["git_url"]:
            print(f"Git remote {args.remote} already points at {app['git_url']}")
            return
        if existing is not None:
            gitutil.remove_remote(repo, args.remote)
        gitutil.add_remote(repo, app["git_url"], args.remote)
        print(f"Git remote {args.remote} {'updated' if existing else 'added'}: {app['git_url']}")
    finally:
        repo.close()
