"""keys:* — SSH public keys for git push."""

from __future__ import annotations

import argparse
from pathlib import Path

from .base import Context, Registry, page_params
from .client import api_path
from .errors import CLIError
from .output import Progress, fmt_time, print_json, print_page_footer, print_table

DEFAULT_KEYS = ("id_ed25519.pub", "id_rsa.pub")


def register(reg: Registry) -> None:
    parser = reg.add("keys:add", cmd_add, "Add an SSH public key", json=True)
    parser.add_argument("path", nargs="?", help="public key file (default: ~/.ssh/id_ed25519.pub, then id_rsa.pub)")
    parser.add_argument("--name", help="a name for the key (default: its comment)")
    reg.add("keys", cmd_list, "List your SSH keys", aliases=("keys:list",), json=True, paged=True)
    parser = reg.add("keys:remove", cmd_remove, "Remove an SSH key")
    parser.add_argument("name")


def default_key_path(home: Path | None = None) -> Path:
    ssh = (home or Path.home()) / ".ssh"
    for name in DEFAULT_KEYS:
        if (ssh / name).is_file():
            return ssh / name
    raise CLIError(f"No SSH public key found in {ssh} ({', '.join(DEFAULT_KEYS)}): give its path")


def read_public_key(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise CLIError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if "PRIVATE KEY" in text:
        raise CLIError(f"{path} is a private key: give the public one (.pub)")
    if not text:
        raise CLIError(f"{path} is empty")
    return text


def cmd_add(ctx: Context, args: argparse.Namespace) -> None:
    path = Path(args.path).expanduser() if args.path else default_key_path()
    body = {"public": read_public_key(path)}
    if args.name:
        body["name"] = args.name
    client = ctx.client()
    with Progress(f"Uploading SSH public key {path}", quiet=args.json) as progress:
        key = client.post(api_path("keys"), body)
        progress.done(f"added as {key.get('name')}")
    if args.json:
        print_json(key)


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    page = ctx.client().get(api_path("keys"), page_params(args))
    if args.json:
        print_json(page)
        return
    rows = [(k.get("name"), k.get("fingerprint"), fmt_time(k.get("created_at"))) for k in page["results"]]
    print_table(("NAME", "FINGERPRINT", "CREATED"), rows, "You have no SSH keys: add one with 'paas keys:add'")
    print_page_footer(page)


def cmd_remove(ctx: Context, args: argparse.Namespace) -> None:
    client = ctx.client()
    with Progress(f"Removing SSH key {args.name}"):
        client.delete(api_path("keys", args.name))
