"""Users and API tokens in Consul KV."""

from __future__ import annotations

from paas.domain.errors import Conflict
from paas.domain.users import ApiToken, User

from .kv import ConsulKV, Op, TxnFailed


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
    def __init__(self, kv: ConsulKV):
        self.kv = kv

    def add(self, digest: str, token: ApiToken) -> None:
        self.kv.txn([Op.create(self.kv.key("tokens", digest), token.to_dict())])

    def get(self, digest: str) -> ApiToken | None:
        entry = self.kv.get(self.kv.key("tokens", digest))
        return ApiToken.from_dict(entry.value) if entry else None

    def revoke(self, digest: str) -> None:
        self.kv.txn([Op.delete(self.kv.key("tokens", digest))])
