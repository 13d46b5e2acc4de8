"""Users and API tokens in Consul KV."""

from __future__ import annotations

import hashlib

from paas.domain.errors import Conflict
from paas.domain.users import ApiToken, FailureWindow, User

from .kv import TXN_MAX_OPS, ConsulKV, Op, TxnFailed


class ConsulUserStore:
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def _key(self, username: str) -> str:
        return self.kv.key("users", username)

    def create(self, user: User) -> bool:
        # The first user to claim the admin marker becomes admin, decided by CAS, so two
        # simultaneous first registrations cannot both become admin.
        admin_user = User(**{**user.to_dict(), "is_admin": True})
        try:
            self.kv.txn([Op.create(self._key(user.username), admin_user.to_dict()),
                         Op.create(self.kv.key("admin"), user.username)])
            user.is_admin = True
            return True
        except TxnFailed as exc:
            if 0 in exc.op_indexes:
                raise Conflict(f"Username {user.username!r} is already taken") from None
        user.is_admin = False
        try:
            self.kv.txn([Op.create(self._key(user.username), user.to_dict())])
        except TxnFailed:
            raise Conflict(f"Username {user.username!r} is already taken") from None
        return False

    def get(self, username: str) -> User | None:
        entry = self.kv.get(self._key(username))
        return User.from_dict(entry.value) if entry else None

    def list(self) -> list[User]:
        return [User.from_dict(e.value) for e in self.kv.tree(self.kv.key("users") + "/")]


class ConsulTokenStore:
    """tokens/<digest> -> the token's record (what authentication reads), and per user
    token-ids/<username>/<id> -> {digest, record} (what listing and revocation by id read)."""

    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def _token_key(self, digest: str) -> str:
        return self.kv.key("tokens", digest)

    def _id_key(self, username: str, token_id: str) -> str:
        return self.kv.key("token-ids", username, token_id)

    def _digest_of(self, username: str, token_id: str) -> str | None:
        entry = self.kv.get(self._id_key(username, token_id)) if token_id else None
        return entry.value.get("digest") if entry else None

    def add(self, digest: str, token: ApiToken, evict: list[ApiToken] = ()) -> None:
        ops = [Op.create(self._token_key(digest), token.to_dict()),
               Op.create(self._id_key(token.username, token.id), {"digest": digest, **token.to_dict()})]
        for old in evict:
            old_digest = self._digest_of(old.username, old.id)
            if old_digest:
                ops += [Op.delete(self._token_key(old_digest)), Op.delete(self._id_key(old.username, old.id))]
        self.kv.txn(ops[:TXN_MAX_OPS])

    def get(self, digest: str) -> ApiToken | None:
        entry = self.kv.get(self._token_key(digest))
        return ApiToken.from_dict(entry.value) if entry else None

    def revoke(self, digest: str) -> None:
        token = self.get(digest)
        ops = [Op.delete(self._token_key(digest))]
        if token and token.id:
            ops.append(Op.delete(self._id_key(token.username, token.id)))
        self.kv.txn(ops)

    def list_for(self, username: str) -> list[ApiToken]:
        entries = self.kv.tree(self.kv.key("token-ids", username) + "/")
        return [ApiToken.from_dict(e.value) for e in entries]

    def revoke_id(self, username: str, token_id: str) -> bool:
        digest = self._digest_of(username, token_id)
        if digest is None:
            return False
        self.kv.txn([Op.delete(self._token_key(digest)), Op.delete(self._id_key(username, token_id))])
        return True


class ConsulFailureCounter:
    """failures/<kind>/<sha256(subject)>: {start, count}, updated with check-and-set so that
    concurrent failures on several controller workers all count. Subjects are hashed: any
    string (an unknown username, an address) makes a safe key of bounded length."""

    def __init__(self, kv: ConsulKV, kind: str):
        self.kv = kv
        self.kind = kind

    def _key(self, subject: str) -> str:
        return self.kv.key("failures", self.kind, hashlib.sha256(subject.encode("utf-8", "replace")).hexdigest()[:40])

    def get(self, subject: str) -> FailureWindow:
        entry = self.kv.get(self._key(subject))
        return FailureWindow.from_dict(entry.value) if entry else FailureWindow()

    def record_failure(self, subject: str, now: float, window: float) -> FailureWindow:
        key = self._key(subject)
        for _ in range(20):
            entry = self.kv.get(key)
            current = FailureWindow.from_dict(entry.value) if entry else FailureWindow()
            updated = current.after_failure(now, window)
            try:
                self.kv.txn([Op.cas(key, updated.to_dict(), entry.index if entry else 0)])
                return updated
            except TxnFailed:
                continue
        return updated

    def clear(self, subject: str) -> None:
        self.kv.txn([Op.delete(self._key(subject))])
