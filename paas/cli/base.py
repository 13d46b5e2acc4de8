"""What every command module shares: the command registry and the run context."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from . import gitutil
from .client import Client
from .errors import CLIError
from .settings import Settings, effective, load_file, normalize_url

Handler = Callable[["Context", argparse.Namespace], "int | None"]

NO_APP = "No app given: use -a APP or run inside a repo with a 'paas' git remote"


@dataclass
class Command:
    name: str
    aliases: tuple[str, ...]
    summary: str
    # Commands of one group are listed together in 'paas help' (default: the topic, before ':').
    group: str = ""

    def __post_init__(self) -> None:
        self.group = self.group or self.name.split(":")[0]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


@dataclass
class Registry:
    subparsers: Any
    commands: list[Command] = field(default_factory=list)

    def add(
        self,
        name: str,
        handler: Handler,
        summary: str,
        *,
        aliases: tuple[str, ...] = (),
        app: bool = False,
        json: bool = False,
        paged: bool = False,
        group: str = "",
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name,
            aliases=list(aliases),
            help=summary,
            description=summary,
            prog=f"paas {name}",
            allow_abbrev=False,
        )
        if app:
            parser.add_argument("-a", "--app", metavar="APP", help="the app (default: from the 'paas' git remote)")
        if json:
            parser.add_argument("--json", action="store_true", help="print the raw JSON response")
        if paged:
            parser.add_argument("--page", type=positive_int, default=None, help="page number (default 1)")
            parser.add_argument("--per-page", type=positive_int, default=None, help="items per page (max 100)")
        parser.set_defaults(handler=handler, command=name)
        self.commands.append(Command(name, tuple(aliases), summary, group))
        return parser

    def names(self) -> set[str]:
        return {name for command in self.commands for name in (command.name, *command.aliases)}


@dataclass
class AppRef:
    name: str
    # True when the name came from the 'paas' git remote rather than -a.
    from_remote: bool


class Context:
    """Settings, API clients and app resolution for one command run."""

    def __init__(self, environ: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.cwd = Path(cwd) if cwd else Path.cwd()

    @cached_property
    def stored(self) -> Settings:
        return load_file(self.environ)

    @property
    def settings(self) -> Settings:
        return effective(self.stored, self.environ)

    def controller_url(self, explicit: str | None = None) -> str:
        if explicit:
            return normalize_url(explicit)
        url = self.settings.url
        if not url:
            raise CLIError("No controller URL: run 'paas auth:login URL' or set PAAS_URL")
        return url

    def client(self) -> Client:
        """A client that sends the token; fails early when there is none."""
        settings = self.settings
        url = self.controller_url()
        if not settings.token:
            raise CLIError("Not logged in: run 'paas auth:login URL' (or auth:register), or set PAAS_TOKEN")
        return Client(url, settings.token)

    def anonymous_client(self, url: str) -> Client:
        return Client(url)

    def app_ref(self, args: argparse.Namespace) -> AppRef:
        explicit = getattr(args, "app", None)
        if explicit:
            return AppRef(explicit, from_remote=False)
        inferred = gitutil.paas_remote_app(self.cwd)
        if inferred:
            return AppRef(inferred, from_remote=True)
        raise CLIError(NO_APP)

    def app(self, args: argparse.Namespace) -> str:
        return self.app_ref(args).name


def prompt(label: str, secret: bool = False) -> str:
    try:
        return getpass.getpass(f"{label}: ") if secret else input(f"{label}: ")
    except EOFError:
        raise CLIError(f"Aborted: no {label.lower()} given") from None


def page_params(args: argparse.Namespace) -> dict[str, int | None]:
    return {"page": args.page, "per_page": args.per_page}
