"""sshd's AuthorizedKeysCommand: `paas-authorized-keys %u %t %k`.

Prints one `restrict,command=...` line when the key belongs to a platform user, nothing
otherwise (sshd then refuses the key)."""

from __future__ import annotations

import shlex
import sys

from paas.config import Settings
from paas.domain.errors import ValidationError
from paas.domain.keys import parse_public_key
from paas.domain.users import USERNAME_RE

from .client import ControllerError, GatewayClient


def authorized_line(key_type: str, key_b64: str, username: str, shell: str) -> str:
    command = f"{shell} {username}"
    return f'restrict,command="{command}" {key_type} {key_b64}'


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = Settings.from_env()
    if len(args) != 3 or args[0] != settings.git_user or not settings.gateway_token:
        return 0
    _, key_type, key_b64 = args
    try:
        fingerprint = parse_public_key(f"{key_type} {key_b64}").fingerprint
    except ValidationError:
        return 0
    try:
        username = GatewayClient(settings.controller_url, settings.gateway_token).key_owner(fingerprint)
    except ControllerError as exc:
        print(exc, file=sys.stderr)
        return 1
    if username and USERNAME_RE.match(username):
        shell = shlex.quote(str(settings.git_shell))
        print(authorized_line(key_type, key_b64, username, shell))
    return 0


if __name__ == "__main__":
    sys.exit(main())
