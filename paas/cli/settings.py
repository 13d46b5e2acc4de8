"""Client settings: ~/.paas/client.json, with PAAS_URL and PAAS_TOKEN overriding it.

PAAS_HOME replaces the ~/.paas directory (tests point it at a temporary one).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import CLIError

SETTINGS_FILE = "client.json"


@dataclass
class Settings:
    url: str | None = None
    token: str | None = None
    username: str | None = None


def paas_home(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    override = environ.get("PAAS_HOME")
    return Path(override).expanduser() if override else Path.home() / ".paas"


def settings_path(environ: Mapping[str, str] | None = None) -> Path:
    return paas_home(environ) / SETTINGS_FILE


def load_file(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings stored on disk, without environment overrides."""
    path = settings_path(environ)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise CLIError(f"Cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise CLIError(f"{path} is not valid JSON: fix or delete it, then log in again") from None
    if not isinstance(data, dict):
        raise CLIError(f"{path} should hold a JSON object: fix or delete it, then log in again")

    def text_or_none(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) and value else None

    return Settings(url=text_or_none("url"), token=text_or_none("token"), username=text_or_none("username"))


def save_file(settings: Settings, environ: Mapping[str, str] | None = None) -> Path:
    """Write the settings with mode 0600 (they hold a token), replacing the file atomically."""
    path = settings_path(environ)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{SETTINGS_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({k: v for k, v in asdict(settings).items() if v is not None}, handle, indent=2)
            handle.write("\n")
        # A leftover tmp file may predate us with looser permissions.
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise CLIError(f"Cannot write {path}: {exc.strerror}") from None
    return path


def effective(stored: Settings, environ: Mapping[str, str] | None = None) -> Settings:
    """The stored settings with PAAS_URL and PAAS_TOKEN applied."""
    environ = os.environ if environ is None else environ
    url = environ.get("PAAS_URL") or stored.url
    return Settings(
        url=normalize_url(url) if url else None,
        token=environ.get("PAAS_TOKEN") or stored.token,
        username=stored.username,
    )


def normalize_url(url: str) -> str:
    """'controller:8000' -> 'http://controller:8000'; no trailing slash."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CLIError(f"Invalid controller URL {url!r}: expected e.g. http://127.0.0.1:8000")
    return text.rstrip("/")
