"""certs:* and tls:* — the app's TLS certificate (served by SNI) and HTTP-to-HTTPS redirects."""

from __future__ import annotations

import argparse
from pathlib import Path

from .base import Context, Registry
from .client import api_path
from .errors import CLIError
from .output import Progress, print_info, print_json


def register(reg: Registry) -> None:
    reg.add("certs", cmd_info, "Show the app's TLS certificate", aliases=("certs:info",), app=True, json=True)
    parser = reg.add("certs:add", cmd_add, "Add or replace the app's TLS certificate (PEM files)", app=True,
                     json=True)
    parser.add_argument("cert", metavar="CERT", help="certificate file (leaf first, then intermediates)")
    parser.add_argument("key", metavar="KEY", help="private key file (unencrypted)")
    reg.add("certs:remove", cmd_remove, "Remove the app's TLS certificate", app=True)
    reg.add("tls:force", cmd_force, "Redirect the app's plain HTTP to HTTPS", app=True, group="certs")
    reg.add("tls:unforce", cmd_unforce, "Serve plain HTTP again", app=True, group="certs")


def _read(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text()
    except OSError as exc:
        raise CLIError(f"Cannot read the {what} file {path}: {exc.strerror}") from None


def _show(app: str, cert: dict) -> None:
    print_info(f"{app} certificate", [
        ("Names", ", ".join(cert.get("names", []))),
        ("Issuer", cert.get("issuer")),
        ("Valid", f"{cert.get('not_before')} to {cert.get('not_after')}"),
        ("Fingerprint", cert.get("fingerprint")),
        ("Self-signed", "yes" if cert.get("self_signed") else "no"),
    ])


def cmd_info(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    cert = ctx.client().get(api_path("apps", app, "certs"))
    print_json(cert) if args.json else _show(app, cert)


def cmd_add(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    body = {"cert": _read(args.cert, "certificate"), "key": _read(args.key, "key")}
    with Progress(f"Adding a certificate to {app}", quiet=args.json):
        cert = ctx.client().post(api_path("apps", app, "certs"), body)
    print_json(cert) if args.json else _show(app, cert)


def cmd_remove(ctx: Context, args: argparse.Namespace) -> None:
    app = ctx.app(args)
    with Progress(f"Removing the certificate of {app}"):
        ctx.client().delete(api_path("apps", app, "certs"))


def _set_force(ctx: Context, args: argparse.Namespace, force: bool) -> None:
    app = ctx.app(args)
    with Progress(f"{'Forcing' if force else 'Unforcing'} TLS on {app}"):
        ctx.client().request("PUT", api_path("apps", app, "tls"), body={"force": force})


def cmd_force(ctx: Context, args: argparse.Namespace) -> None:
    _set_force(ctx, args, True)


def cmd_unforce(ctx: Context, args: argparse.Namespace) -> None:
    _set_force(ctx, args, False)
