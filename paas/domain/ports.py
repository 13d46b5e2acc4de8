"""Ports: what the services need from the outside world. Adapters in paas/store implement them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .appjson import AppJson
from .apps import App
from .builds import Build
from .deployments import DeployState
from .formation import Formation
from .keys import SshKey
from .logs import Drain, LogLine, OutputSource
from .releases import Release
from .scheduler import AppPlan
from .timeline import Mark
from .users import ApiToken, FailureWindow, User


class UserStore(Protocol):
    def create(self, user: User) -> bool:
        """Create the user; returns whether they became the admin (first user). Conflict if taken."""
        ...

    def get(self, username: str) -> User | None: ...
    def list(self) -> list[User]: ...


class TokenStore(Protocol):
    def add(self, digest: str, token: ApiToken, evict: list[ApiToken] = ()) -> None:
        """Store the token and, in the same transaction, remove the user's tokens in `evict`."""
        ...

    def get(self, digest: str) -> ApiToken | None: ...
    def revoke(self, digest: str) -> None: ...
    def list_for(self, username: str) -> list[ApiToken]: ...
    def revoke_id(self, username: str, token_id: str) -> bool:
        """Revoke the user's token with this id; False if there is none."""
        ...


class FailureCounter(Protocol):
    """Failed attempts per subject (e.g. a username or a client address), shared by every
    controller process."""

    def get(self, subject: str) -> FailureWindow: ...
    def record_failure(self, subject: str, now: float, window: float) -> FailureWindow: ...
    def clear(self, subject: str) -> None: ...


class KeyStore(Protocol):
    def add(self, key: SshKey) -> None:
        """Conflict if a key with the same fingerprint exists (for anyone)."""
        ...

    def list_for(self, username: str) -> list[SshKey]: ...
    def remove(self, key: SshKey) -> None: ...
    def by_fingerprint(self, fingerprint: str) -> SshKey | None: ...


class AppStore(Protocol):
    def create(self, app: App, first_release: Release, formation: Formation) -> None:
        """Atomically create the app, its release v1 and formation. Conflict if the name is taken."""
        ...

    def get(self, name: str) -> tuple[App, int] | None:
        """The app and its modify index, for check-and-set updates."""
        ...

    def list(self) -> list[App]: ...

    def update(self, app: App, index: int) -> None:
        """Check-and-set; ConcurrentUpdate if the app changed since `index`."""
        ...

    def add_domain(self, app: App, index: int, domain: str) -> None:
        """Check-and-set the app and claim the domain globally; Conflict if another app has it."""
        ...

    def remove_domain(self, app: App, index: int, domain: str) -> None: ...
    def domain_records(self, domains: list[str]) -> list[dict]: ...
    def app_for_domain(self, domain: str) -> str | None:
        """The app that claimed a custom domain, None when none did."""

    def destroy(self, app: App, index: int) -> None:
        """Remove every key of the app."""
        ...


class ReleaseStore(Protocol):
    def head(self, app: str) -> tuple[int, int]:
        """(latest version, modify index of the version counter)."""
        ...

    def get(self, app: str, version: int) -> Release | None: ...
    def get_many(self, app: str, versions: list[int]) -> list[Release]: ...
    def heads(self, apps: list[str]) -> dict[str, int]: ...
    def mark_failed(self, app: str, version: int, reason: str) -> None: ...

    def append(self, release: Release, head_index: int) -> None:
        """Store release N+1 and move the counter, only if the counter is still at `head_index`."""
        ...


class BuildStore(Protocol):
    def add(self, build: Build) -> None: ...
    def get(self, app: str, build_id: str) -> Build | None: ...
    def list(self, app: str) -> list[Build]: ...


class FormationStore(Protocol):
    def get(self, app: str) -> tuple[Formation, int]: ...
    def update(self, formation: Formation, index: int) -> None: ...


LogSink = Callable[[str], None]


@dataclass(frozen=True)
class BuiltImage:
    image: str
    digest: str
    procfile: dict[str, str]
    size: int
    builder: str
    app_json: AppJson | None = None  # the source's app.json, parsed (None: it has none)


class ImageBuilder(Protocol):
    def build(self, app: str, build_id: str, source: Path, config: dict[str, str], sink: LogSink,
              marks: list[Mark] | None = None, publish: bool = True) -> BuiltImage:
        """Turn a source tree into an image, streaming the log line by line, and (publish) push
        it to the registry; each phase is recorded in marks. Raises BuildFailed with the reason."""
        ...

    def publish(self, built: BuiltImage, sink: LogSink, marks: list[Mark] | None = None) -> BuiltImage:
        """Push an image built with publish=False to the registry; the same with its digest.
        Raises BuildFailed with the reason."""
        ...

    def remove_app(self, app: str) -> None:
        """Forget everything built for the app: build cache, build logs, local images and the
        registry's manifests of its repository."""
        ...


class BuildLogStore(Protocol):
    def append(self, app: str, build_id: str, line: str) -> None: ...
    def read(self, app: str, build_id: str) -> str | None: ...
    def remove_app(self, app: str) -> None: ...


class DeployStateStore(Protocol):
    """Per app: one DeployState (the live release, the deployment in flight, recent ones)."""

    def get(self, app: str) -> tuple[DeployState, int]:
        """The state and its modify index (0 and an empty state if there is none)."""
        ...

    def put(self, app: str, state: DeployState, index: int) -> None:
        """Check-and-set; ConcurrentUpdate if it changed since `index`."""
        ...

    def watch(self, app: str, index: int, timeout: float) -> tuple[DeployState, int]:
        """Block until the state's modify index differs from `index` or `timeout` passes (a
        Consul blocking query); then the state as get() returns it."""
        ...

    def remove(self, app: str) -> None: ...


class RouteTags(Protocol):
    """The service tags a scheduler registers instances with, which the router reads: how an
    instance becomes routed (live) or stays unrouted (canary, worker)."""

    def live(self, plan: AppPlan) -> list[str]: ...
    def canary(self, plan: AppPlan) -> list[str]: ...
    def unrouted(self, plan: AppPlan, canary: bool) -> list[str]: ...


class AppLocks(Protocol):
    """Per-app mutual exclusion across controller processes (Consul sessions)."""

    def try_acquire(self, app: str) -> bool: ...
    def release(self, app: str) -> None: ...
    def held(self) -> set[str]: ...
    def forget(self, app: str) -> None: ...
    def renew(self) -> None: ...
    def close(self) -> None: ...


class CertStore(Protocol):
    """TLS certificates per app: {cert, key, info}; the key never leaves through the API."""

    def get(self, app: str) -> dict | None: ...
    def put(self, app: str, record: dict) -> None: ...
    def remove(self, app: str) -> None: ...
    def all(self) -> dict[str, dict]: ...


class CertPublisher(Protocol):
    """Where the router picks certificates up (Traefik's file provider directory), and the rules
    a certificate must pass to be served."""

    def inspect(self, cert: str, key: str, hosts: list[str]) -> dict:
        """Validate (key matches, valid now, covers one of hosts); the certificate's public facts.
        Raises ValidationError without ever quoting the key."""
        ...

    def publish(self, app: str, cert: str, key: str) -> None: ...
    def withdraw(self, app: str) -> None: ...
    def sync(self, certificates: dict[str, tuple[str, str]]) -> None: ...


class MaintenanceRouter(Protocol):
    """Sends an app's hosts to the maintenance page, ahead of its live instances (which keep
    running), and back. Implemented on Traefik's file provider (router/maintenance.py)."""

    def divert(self, app: str, hosts: list[str]) -> None: ...
    def restore(self, app: str) -> None: ...
    def sync(self, diverted: dict[str, list[str]]) -> None:
        """Divert exactly these apps ({app: hosts}), e.g. from the store at controller start."""


class ChangeFeed(Protocol):
    """Wakes the supervisor when an app's desired state changes (a Consul blocking query)."""

    def wait_for_changes(self, index: int, seconds: float) -> tuple[int, dict[str, int] | None]:
        """Block until an app's releases, formation or record change (or `seconds` pass): the new
        index and every app's change version (compare with the last answer to see which
        changed), or None when this feed cannot say which apps changed."""
        ...


class RouterView(Protocol):
    """What the router serves now (Traefik's API), so a deployment knows when its instances take
    requests: the timeline's "routed", and the start of the old instances' drain."""

    def servers(self, service: str) -> set[str] | None:
        """host:port of every server the router sends the service's requests to (empty if it
        has none); None when the router cannot tell (no API configured, an error)."""
        ...


class LogStore(Protocol):
    """The per-app log history (paas/logstore): bounded, time-ordered, survives restarts."""

    def append(self, lines: list[LogLine], origin: str = "") -> list[LogLine]:
        """Store LogLines; returns those that were new (duplicates of a resumed reader are dropped)."""
        ...

    def append_many(self, batches: list[tuple[str, list[LogLine]]]) -> list[LogLine]:
        """Several origins' lines in one transaction (the collector's batches); the new ones."""
        ...

    def read(self, app: str, limit: int, types: tuple[str, ...] = (), sources: tuple[str, ...] = (),
             since: float | None = None, after_id: int = 0) -> list[tuple[int, LogLine]]: ...
    def last_id(self, app: str) -> int: ...
    def last_timestamp(self, app: str, origin: str) -> float | None: ...
    def tag_source(self, app: str, source: str, tag: str) -> int: ...
    def texts_of(self, app: str, source: str) -> set[str]: ...
    def remove_app(self, app: str) -> None: ...


class OutputStream(Protocol):
    """One container's output as (engine timestamp, text), until the container ends or close()."""

    def __iter__(self) -> Iterator[tuple[float, str]]: ...
    def close(self) -> None:
        """Safe from another thread: the iteration then ends."""


class ContainerOutput(Protocol):
    """The output of the platform's containers (implemented by the scheduler adapter: Docker's
    json-file logs, paas/scheduler/docker_logs.py), read by the log collector."""

    def containers(self) -> list[OutputSource]:
        """Every container of the platform the engine still has, running or not."""
        ...

    def started(self, timeout: float) -> list[OutputSource] | None:
        """Containers started since the last call, waiting up to `timeout`; None when the engine's
        event stream was lost (then every container is looked at again)."""
        ...

    def follow(self, source: OutputSource, since: float | None) -> OutputStream:
        """Its output from `since` (inclusive, may repeat a little: the store drops repeats)."""
        ...

    def output(self, source: OutputSource, since: float | None, limit: int) -> list[tuple[float, str]]:
        """Its output from `since` as far as it goes now, not followed: at most the last `limit`
        lines (a one-off run's, read before it is removed)."""
        ...


class AccessLog(Protocol):
    """The router's access log (one JSON object a line), read where the last read ended."""

    def read_new(self, max_lines: int) -> list[str]: ...


class HostLock(Protocol):
    """Held by one process of a host at a time (the log collector's: one per host)."""

    def try_acquire(self) -> bool: ...
    def release(self) -> None: ...


class DrainStore(Protocol):
    """An app's log drains (Consul KV: drains/<app>/<id>)."""

    def add(self, drain: Drain) -> None: ...
    def list(self, app: str) -> list[Drain]: ...
    def remove(self, app: str, drain_id: str) -> bool:
        """False when the app has no such drain."""
        ...

    def remove_app(self, app: str) -> None: ...
