"""SSH keys of a user: the gateway maps a presented key to its user."""

from __future__ import annotations

from paas.domain.clock import now_iso
from paas.domain.errors import Conflict, NotFound
from paas.domain.keys import SshKey, default_key_name, parse_public_key, validate_key_name
from paas.domain.ports import KeyStore
from paas.domain.users import User


class KeyService:
    def __init__(self, keys: KeyStore):
        self.keys = keys

    def add(self, actor: User, public: str, name: str | None = None) -> SshKey:
        parsed = parse_public_key(public)
        key_name = validate_key_name(name) if name else default_key_name(parsed)
        if any(k.name == key_name for k in self.keys.list_for(actor.username)):
            raise Conflict(f"You already have a key named {key_name!r}")
        key = SshKey(
            username=actor.username,
            name=key_name,
            fingerprint=parsed.fingerprint,
            public=parsed.canonical,
            created_at=now_iso(),
        )
        self.keys.add(key)
        return key

    def list(self, actor: User) -> list[SshKey]:
        return self.keys.list_for(actor.username)

    def remove(self, actor: User, name: str) -> None:
        for key in self.keys.list_for(actor.username):
            if key.name == name:
                self.keys.remove(key)
                return
        raise NotFound(f"No key named {name[:64]!r}")

    def by_fingerprint(self, fingerprint: str) -> SshKey | None:
        return self.keys.by_fingerprint(fingerprint)
