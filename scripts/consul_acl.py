"""Set up Consul's ACLs for the platform, idempotently: bootstrap once, one policy and token per component.

    .venv/bin/python scripts/consul_acl.py ADDR SECRETS_DIR [--kv-prefix paas] [--node NODE] [--no-bootstrap]

Run by scripts/services.sh after it starts (or reuses) the Consul server agent. Tokens are written to
root-only files in SECRETS_DIR (dir 700, files 600), which is the only place they exist outside Consul:

    consul-management.token  the bootstrap (management) token: only these scripts use it
    consul-controller.token  the controller: KV under the platform's prefix, sessions, service
                             registration on the local agent, catalog/health and agent read
    consul-router.token      Traefik's Consul catalog provider: service and node read, nothing else
    consul-agent.token       the agent's own token (its node), so anti-entropy can sync the catalog

The SSH gateway never talks to Consul (it calls the controller's API), so it has no token.
A second run finds the token files, checks each against Consul and keeps it; a file whose token Consul
no longer knows (e.g. the data directory was wiped) is replaced. Tokens never go to stdout or logs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import consul
from consul.exceptions import ACLDisabled, ACLPermissionDenied, ConsulException
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_fixed

T = TypeVar("T")
READY_DEADLINE = 30.0  # seconds for a new server's ACL system to leave "legacy mode"

READ = {"policy": "read"}
WRITE = {"policy": "write"}


def policies(kv_prefix: str, node: str) -> dict[str, dict[str, Any]]:
    """Each component's policy, as Consul's JSON rule syntax (the same shape as its HCL)."""
    return {
        # `key_prefix "paas"` also covers the tests' own prefixes (paas-test-*, paas-nomad-*, ...).
        "paas-controller": {
            "key_prefix": {kv_prefix: WRITE},
            # App locks are sessions on the local agent's node.
            "session_prefix": {"": WRITE},
            # The docker scheduler registers every instance (service name = "<app>-<type>").
            "service_prefix": {"": WRITE},
            "node_prefix": {"": READ},
            "agent_prefix": {"": READ},
        },
        "paas-router": {
            "service_prefix": {"": READ},
            "node_prefix": {"": READ},
        },
        "paas-agent": {
            "node": {node: WRITE},
            "service_prefix": {"": READ},
        },
    }


# Component -> (token file name, policy name, description).
TOKENS = {
    "controller": ("consul-controller.token", "paas-controller", "paas controller"),
    "router": ("consul-router.token", "paas-router", "paas router (Traefik catalog provider)"),
    "agent": ("consul-agent.token", "paas-agent", "paas Consul agent (its own node)"),
}
MANAGEMENT_FILE = "consul-management.token"


def write_secret(path: Path, value: str) -> None:
    """Atomically replace `path` with `value`, mode 600 from the first byte."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    os.replace(tmp, path)


def read_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def retry_until_ready(step: Callable[[], T], what: str) -> T:
    """A new server answers 500 ("legacy mode", "no cluster leader") until its ACL system is up."""
    not_ready = retry_if_exception(
        lambda exc: isinstance(exc, ConsulException) and not isinstance(exc, (ACLDisabled, ACLPermissionDenied)))
    try:
        for attempt in Retrying(retry=not_ready, stop=stop_after_delay(READY_DEADLINE), wait=wait_fixed(0.5)):
            with attempt:
                return step()
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise SystemExit(f"consul-acl: {what}: Consul's ACL system not ready after "
                         f"{READY_DEADLINE:g}s: {str(last)[:200]}") from last
    raise AssertionError("unreachable: Retrying either returns or raises")


def valid(client: consul.Consul, secret: str | None) -> bool:
    if not secret:
        return False
    try:
        client.acl.token.read_self(token=secret)
    except ACLPermissionDenied:  # "ACL not found": a token of an earlier data directory
        return False
    return True


def management_token(client: consul.Consul, secrets: Path, may_bootstrap: bool) -> str | None:
    """The management token from its file, bootstrapping the ACL system if it never was.
    None when the agent has ACLs disabled (e.g. a reused dev agent)."""
    path = secrets / MANAGEMENT_FILE
    secret = read_secret(path)
    try:
        if retry_until_ready(lambda: valid(client, secret), "checking the management token"):
            return secret
    except ACLDisabled:
        return None
    if not may_bootstrap:
        raise SystemExit(f"consul-acl: {path} is missing or not valid for this Consul, and this agent is not "
                         "ours to bootstrap; put its management token there")
    try:
        token = retry_until_ready(client.acl.bootstrap, "bootstrapping")
    except ACLPermissionDenied as exc:
        raise SystemExit(
            f"consul-acl: Consul's ACLs were bootstrapped already but {path} is missing or stale. Restore the "
            "file, or reset: write the reset index Consul reports into <data-dir>/acl-bootstrap-reset and "
            f"start again ({str(exc)[:120]})") from exc
    write_secret(path, token["SecretID"])
    print(f"consul-acl: bootstrapped the ACL system; management token in {path}")
    return token["SecretID"]


def ensure_policies(client: consul.Consul, mgmt: str, wanted: dict[str, dict[str, Any]]) -> None:
    existing = {p["Name"]: p["ID"] for p in client.acl.policy.list(token=mgmt)}
    for name, rules in wanted.items():
        if name in existing:
            # Rewritten each time: the prefix or node may have changed; Consul keeps the ID and links.
            client.acl.policy.update(existing[name], name, token=mgmt, rules=rules)
        else:
            client.acl.policy.create(name, token=mgmt, rules=rules)


def ensure_token(client: consul.Consul, mgmt: str, secrets: Path, component: str) -> str:
    filename, policy, description = TOKENS[component]
    path = secrets / filename
    secret = read_secret(path)
    if valid(client, secret):
        return secret  # type: ignore[return-value]
    token = client.acl.token.create(token=mgmt, description=description, policies_name=[policy])
    write_secret(path, token["SecretID"])
    print(f"consul-acl: created the {component} token ({path})")
    return token["SecretID"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("addr", help="host:port of the Consul agent's HTTP API")
    parser.add_argument("secrets", type=Path, help="directory for the token files (created mode 700)")
    parser.add_argument("--kv-prefix", default="paas")
    parser.add_argument("--node", required=True, help="the agent's node name (its token may write that node)")
    parser.add_argument("--no-bootstrap", action="store_true", help="a reused agent: never bootstrap it")
    args = parser.parse_args(argv)
    args.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
    args.secrets.chmod(0o700)
    host, _, port = args.addr.removeprefix("http://").rpartition(":")
    # Explicit tokens per call: py-consul lets CONSUL_HTTP_TOKEN from the environment override ours.
    os.environ.pop("CONSUL_HTTP_TOKEN", None)
    client = consul.Consul(host=host, port=int(port))
    mgmt = management_token(client, args.secrets, may_bootstrap=not args.no_bootstrap)
    if mgmt is None:
        print(f"consul-acl: the agent at {args.addr} has ACLs disabled; no tokens", file=sys.stderr)
        return 0
    ensure_policies(client, mgmt, policies(args.kv_prefix, args.node))
    for component in TOKENS:
        secret = ensure_token(client, mgmt, args.secrets, component)
        if component == "agent":
            # Persisted by the agent itself (acl.enable_token_persistence), set again on every start.
            client.agent.token.set("agent", secret, token=mgmt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
