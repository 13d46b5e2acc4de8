"""config:* — config vars; every change makes a new release."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from .base import Context, Registry
from .client import api_path
from .envfile import format_env, parse_assignments, parse_env, parse_keys
from .errors import CLIError
from .output import Progress, note, print_json
from .releases_common import add_no_wait, settle, wait_params


def register(reg: Registry) -> None:
    reg.add("config", cmd_show, "Show config vars as KEY=VALUE lines", app=True, json=True)
    parser = reg.add("config:set", cmd_set, "Set config vars (new release, restart)", app=True, json=True)
    parser.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    add_no_wait(parser)
    parser = reg.add("config:unset", cmd_unset, "Unset config vars (new release, restart)", app=True, json=True)
    parser.add_argument("keys", nargs="+", metavar="KEY")
    add_no_wait(parser)
    parser = reg.add("config:pull", cmd_pull, "Write config vars to a .env file", app=True)
    parser.add_argument("--file", default=".env", help="default: .env")
    parser.add_argument("--overwrite", action="store_true", help="replace the file (default: only add keys it lacks)")
    parser = reg.add("config:push", cmd_push, "Set config vars from a .env file", app=True, json=True)
    parser.add_argument("--file", default=".env", help="default: .env")
    add_no_wait(parser)


def _get_values(ctx: Context, app: str) -> dict[str, str]:
    return ctx.client().get(api_path("apps", app, "config"))["values"]


def _change(ctx: Context, args: argparse.Namespace, app: str, values: dict[str, Any], message: str) -> None:
    client = ctx.client()
    with Progress(message, quiet=args.json) as progress:
        result = client.patch(api_path("apps", app, "config"), {"values": values}, wait_params(args))
        if args.json:
            print_json(result)
        progress.done(settle(result.get("release"), result.get("deployment")))


def cmd_show(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    if args.json:
        print_json(ctx.client().get(api_path("apps", app, "config")))
        return
    values = _get_values(ctx, app)
    if not values:
        note(f"{app} has no config vars")
    for key in sorted(values):
        print(f"{key}={values[key]}")


def cmd_set(ctx: Context, args: argparse.Namespace) -> None:
    values = parse_assignments(args.pairs)
    app = ctx.app(args)
    _change(ctx, args, app, values, f"Setting config vars and restarting {app}")


def cmd_unset(ctx: Context, args: argparse.Namespace) -> None:
    keys = parse_keys(args.keys)
    app = ctx.app(args)
    _change(ctx, args, app, dict.fromkeys(keys), f"Unsetting {', '.join(keys)} and restarting {app}")


def _read_env_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CLIError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_env(text, str(path))


def _write_private(path: Path, text: str, append: bool) -> None:
    """Create the file 0600 (it holds secrets); an existing file keeps its mode."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
    except OSError as exc:
        raise CLIError(f"Cannot write {path}: {exc.strerror}") from None


def cmd_pull(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    path = Path(args.file)
    values = _get_values(ctx, app)
    if args.overwrite or not path.exists():
        _write_private(path, format_env(values), append=False)
        print(f"Wrote {len(values)} config vars of {app} to {path}")
        return
    existing = _read_env_file(path)
    missing = {key: value for key, value in values.items() if key not in existing}
    if not missing:
        print(f"{path} already has every config var of {app} (use --overwrite to replace it)")
        return
    current = path.read_text()
    prefix = "" if not current or current.endswith("\n") else "\n"
    _write_private(path, prefix + format_env(missing), append=True)
    kept = len(values) - len(missing)
    print(
        f"Added {len(missing)} config vars of {app} to {path}"
        + (f"; kept {kept} already there (use --overwrite to replace them)" if kept else "")
    )


def cmd_push(ctx: Context, args: argparse.Namespace) -> None:
    path = Path(args.file)
    values = _read_env_file(path)
    if not values:
        raise CLIError(f"{path} has no KEY=VALUE lines")
    app = ctx.app(args)
    _change(ctx, args, app, values, f"Setting config vars from {path} and restarting {app}")
