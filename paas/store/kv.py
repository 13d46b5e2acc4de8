"""A thin JSON layer over Consul KV (py-consul): reads, check-and-set and /v1/txn."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import consul
import requests

from paas.domain.errors import ConcurrentUpdate, StoreUnavailable

# Consul rejects a transaction of more than 64 operations.
TXN_MAX_OPS = 64


@dataclass(frozen=True)
class Entry:
    key: str
    value: Any
    index: int


class TxnFailed(ConcurrentUpdate):
    """A transaction was rolled back; op_indexes say which operations failed."""

    def __init__(self, op_indexes: list[int], what: list[str]):
        super().__init__("; ".join(what) or "transaction rolled back")
        self.op_indexes = op_indexes


def _encode(value: Any) -> str:
    return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def _decode(raw: bytes | str | None) -> Any:
    if raw is None or raw in (b"", ""):
        return None
    return json.loads(raw)


@contextmanager
def _consul_errors() -> Iterator[None]:
    try:
        yield
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise StoreUnavailable("The platform store (Consul) is unreachable") from exc
    except consul.ConsulException as exc:
        # Consul's messages name keys, never values.
        raise StoreUnavailable(f"The platform store (Consul) failed: {str(exc)[:200]}") from exc


class Op:
    """Builders for /v1/txn KV operations."""

    @staticmethod
    def set(key: str, value: Any) -> dict:
        return {"KV": {"Verb": "set", "Key": key, "Value": _encode(value)}}

    @staticmethod
    def cas(key: str, value: Any, index: int) -> dict:
        """Write only if the key's ModifyIndex is `index`; index 0 means "only if absent"."""
        return {"KV": {"Verb": "cas", "Key": key, "Value": _encode(value), "Index": index}}

    @staticmethod
    def create(key: str, value: Any) -> dict:
        return Op.cas(key, value, 0)

    @staticmethod
    def get(key: str) -> dict:
        return {"KV": {"Verb": "get", "Key": key}}

    @staticmethod
    def check_index(key: str, index: int) -> dict:
        return {"KV": {"Verb": "check-index", "Key": key, "Index": index}}

    @staticmethod
    def check_not_exists(key: str) -> dict:
        """Fail the transaction if the key exists."""
        return {"KV": {"Verb": "check-not-exists", "Key": key}}

    @staticmethod
    def delete(key: str) -> dict:
        return {"KV": {"Verb": "delete", "Key": key}}

    @staticmethod
    def delete_cas(key: str, index: int) -> dict:
        return {"KV": {"Verb": "delete-cas", "Key": key, "Index": index}}

    @staticmethod
    def delete_tree(prefix: str) -> dict:
        return {"KV": {"Verb": "delete-tree", "Key": prefix}}


class ConsulKV:
    def __init__(self, client: consul.Consul, prefix: str):
        self.client = client
        self.prefix = prefix.strip("/")

    def key(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts))

    def get(self, key: str) -> Entry | None:
        with _consul_errors():
            _, item = self.client.kv.get(key)
        if item is None:
            return None
        return Entry(key=item["Key"], value=_decode(item["Value"]), index=item["ModifyIndex"])

    def tree(self, prefix: str) -> list[Entry]:
        """Every entry under prefix (which should end with '/'), sorted by key."""
        with _consul_errors():
            _, items = self.client.kv.get(prefix, recurse=True)
        return [Entry(key=i["Key"], value=_decode(i["Value"]), index=i["ModifyIndex"]) for i in items or []]

    def keys(self, prefix: str, separator: str | None = None) -> list[str]:
        with _consul_errors():
            _, keys = self.client.kv.get(prefix, keys=True, separator=separator)
        return keys or []

    def get_many(self, keys: Sequence[str]) -> list[Entry]:
        """Read existing keys in as few round trips as Consul allows; a missing key raises TxnFailed."""
        entries: list[Entry] = []
        for start in range(0, len(keys), TXN_MAX_OPS):
            results = self.txn([Op.get(k) for k in keys[start : start + TXN_MAX_OPS]])
            for result in results:
                kv = result["KV"]
                value = base64.b64decode(kv["Value"]) if kv.get("Value") else None
                entries.append(Entry(key=kv["Key"], value=_decode(value), index=kv["ModifyIndex"]))
        return entries

    def watch(self, key: str, index: int, seconds: float) -> Entry | None:
        """The key once its ModifyIndex differs from `index`, or after `seconds` (a Consul
        blocking query; Consul may answer early, so callers loop on their own deadline)."""
        with _consul_errors():
            _, item = self.client.kv.get(key, index=index or None, wait=f"{max(seconds, 0.001):.3f}s")
        if item is None:
            return None
        return Entry(key=item["Key"], value=_decode(item["Value"]), index=item["ModifyIndex"])

    def changed(self, app: str) -> dict:
        """The op every write of an app's desired state adds to its transaction: the supervisor
        watches these small keys to learn which app to step (wait_for_changes)."""
        # A new value every time: Consul does not bump ModifyIndex for a write of the same value.
        return Op.set(self.key("changes", app), time.time_ns())

    def wait_for_changes(self, index: int, seconds: float) -> tuple[int, dict[str, int] | None]:
        """Block until an app's change key is written or removed (or `seconds` pass): the new
        index and app -> ModifyIndex of its change key."""
        with _consul_errors():
            new_index, items = self.client.kv.get(self.key("changes") + "/", recurse=True,
                                                  index=index or None, wait=f"{seconds:g}s")
        return int(new_index or 0), {i["Key"].rsplit("/", 1)[-1]: int(i["ModifyIndex"]) for i in items or []}

    def put(self, key: str, value: Any) -> None:
        self.txn([Op.set(key, value)])

    def txn(self, ops: list[dict]) -> list[dict]:
        """Apply ops atomically. Raises TxnFailed (a ConcurrentUpdate) when any op fails."""
        if len(ops) > TXN_MAX_OPS:
            raise ValueError(f"a Consul transaction takes at most {TXN_MAX_OPS} operations")
        headers = {"X-Consul-Token": self.client.token} if self.client.token else None
        with _consul_errors():
            status, body = self.client.http.put(
                lambda response: (response.code, response.body),
                "/v1/txn",
                data=json.dumps(ops),
                headers=headers,
            )
        if status == 200:
            return json.loads(body).get("Results") or []
        if status == 409:
            errors = json.loads(body).get("Errors") or []
            raise TxnFailed([e.get("OpIndex", -1) for e in errors], [e.get("What", "") for e in errors])
        raise StoreUnavailable(f"The platform store (Consul) refused a transaction: HTTP {status} {body[:200]}")


def connect(addr: str, token: str | None) -> consul.Consul:
    """A py-consul client for CONSUL_HTTP_ADDR-style addresses (host:port or scheme://host:port)."""
    scheme = "http"
    if "://" in addr:
        scheme, addr = addr.split("://", 1)
    host, _, port = addr.rpartition(":")
    return consul.Consul(host=host or "127.0.0.1", port=int(port or 8500), scheme=scheme, token=token)
