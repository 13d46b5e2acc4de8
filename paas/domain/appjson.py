"""app.json: what the code itself declares about running it.

The file is Heroku's manifest (https://devcenter.heroku.com/articles/app-json-schema) with Dokku's
`healthchecks` key (https://dokku.com/docs/appendices/file-formats/app-json/, fields as in
dokku/docker-container-healthchecker's file format):

    {"healthchecks": {"web": [{"type": "startup", "path": "/health", "attempts": 3,
                                "timeout": 5, "wait": 5, "initialDelay": 0}]}}

Only `healthchecks` is read; every other key (Heroku's name, env, formation, addons, scripts...)
is ignored. The file comes from a tenant's push, so it is parsed as hostile data: bounded in
size, parse errors and wrong types are errors that name the field, and the result is a small
typed value (AppJson) that the build record carries and build_plan (services/plans.py) merges
into the plan, under whatever the app's owner set explicitly.

How Dokku's check fields map onto this platform (UpdatePolicy, domain/scheduler.py):

- `path` of web's startup (else readiness) check: web's HTTP health check. Only one path per
  type is checked; HTTP checks apply to web only (as `healthchecks:set`).
- `attempts` -> `check_failures`: the failures in a row that fail the deployment. Dokku's
  default is 3, which is also ours.
- `initialDelay`, `attempts`, `timeout`, `wait` -> `healthy_deadline`: Dokku gives a startup check
  about initialDelay + attempts * (timeout + wait) seconds before it gives up, so that is the time
  a new instance gets to become healthy here (Dokku's defaults fill in what is not given: timeout
  5, wait 5, initialDelay 0). Set only when one of initialDelay, timeout or wait is given: a file
  that names just a path keeps the platform's deadline. The probe's own timeout and interval
  stay the platform's, and a check that answers 5xx still fails fast from its first answer.
- `uptime` (an uptime check, of any type) -> `min_healthy_time`: how long an instance must run
  healthy before it counts; the largest over all types, since the policy is the app's. The
  deadline then grows by as much, so the instance still has the usual time to start.
- `drain_time` and `stop_timeout` are not in Dokku's file (Dokku sets them with `checks:set
  wait-to-retire` and DOKKU_DOCKER_STOP_TIMEOUT): `ps:update` sets them here.
- `command`, `listening`, `content`, `httpHeaders`, `scheme` other than http, `port` other than
  the app's PORT, `onFailure`, `warn` and liveness checks are not supported: they are ignored
  with a note in the push output, never silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError
from .processes import HEALTHCHECK_RE, PROCESS_TYPE_RE
from .scheduler import CONTAINER_PORT, WEB, UpdatePolicy

FILENAME = "app.json"
MAX_BYTES = 64 * 1024
MAX_TYPES = 30
MAX_CHECKS_PER_TYPE = 10
MAX_SECONDS = 3600
# Dokku's defaults (docker-container-healthchecker: GetAttempts, GetTimeout, GetWait).
DOKKU_ATTEMPTS, DOKKU_TIMEOUT, DOKKU_WAIT = 3, 5, 5
CHECK_TYPES = ("startup", "readiness", "liveness")
UNSUPPORTED = ("command", "listening", "content", "httpHeaders", "onFailure", "warn")


@dataclass(frozen=True)
class AppJson:
    """What app.json declares: per process type the HTTP path to check (None: the type is
    listed without an HTTP check), and the UpdatePolicy fields it determines."""

    healthchecks: dict[str, str | None] = field(default_factory=dict)
    update: dict[str, float | int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"healthchecks": dict(self.healthchecks), "update": dict(self.update)}

    @classmethod
    def from_dict(cls, data: dict) -> AppJson:
        return cls(healthchecks=dict(data.get("healthchecks") or {}), update=dict(data.get("update") or {}))

    def __bool__(self) -> bool:
        return bool(self.healthchecks or self.update)

    def describe(self) -> list[str]:
        """What it declares, for the push output."""
        lines = [f"{name}: HTTP GET {path}" for name, path in sorted(self.healthchecks.items()) if path]
        lines += [f"{key} {_show(value)}" for key, value in sorted(self.update.items())]
        return lines


def _show(value: float | int) -> str:
    return f"{value:g}s" if isinstance(value, float) else str(value)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _fail(where: str, message: str) -> ValidationError:
    return ValidationError(f"app.json: {where} {message}")


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a whole number", float: "a number"}.get(type(value), type(value).__name__)


def _seconds(check: dict, key: str, where: str, low: int) -> int | None:
    """A whole number of seconds (Dokku's fields are Go ints), or None when absent."""
    if key not in check:
        return None
    value = check[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(f"{where}.{key}", f"must be a whole number of seconds, not {_kind(value)}")
    if not low <= value <= MAX_SECONDS:
        raise _fail(f"{where}.{key}", f"must be from {low} to {MAX_SECONDS}")
    return value


def parse_app_json(text: str) -> tuple[AppJson, list[str]]:
    """The declarations of an app.json and notes on what it asks for that is ignored here.
    ValidationError (naming the field) if it is not valid JSON or a field has the wrong type."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        raise ValidationError(f"app.json is larger than {MAX_BYTES // 1024} KiB")
    try:
        document = json.loads(text.removeprefix("\ufeff"), parse_constant=_refuse_constant)
    except RecursionError:
        raise ValidationError("app.json is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"app.json is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") \
            from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        raise ValidationError(f"app.json is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(document, dict):
        raise ValidationError(f"app.json must be a JSON object, not {_kind(document)}")
    checks = document.get("healthchecks")
    if checks is None:
        return AppJson(), []
    if not isinstance(checks, dict):
        raise _fail("healthchecks", f"must be an object of process type -> list of checks, not {_kind(checks)}")
    if len(checks) > MAX_TYPES:
        raise _fail("healthchecks", f"names more than {MAX_TYPES} process types")
    notes: list[str] = []
    paths: dict[str, str | None] = {}
    budget: dict[str, int] = {}  # the web check's timing fields, for healthy_deadline
    failures: int | None = None
    uptime = 0
    for name, entries in checks.items():
        if not isinstance(name, str) or not PROCESS_TYPE_RE.match(name):
            # repr: the name is the tenant's text, shown in push output and build records.
            raise _fail(f"healthchecks key {name[:40]!r}", "is not a process type (lowercase letters, digits, "
                        "'_' or '-', starting with a letter)")
        where = f"healthchecks.{name}"
        if not isinstance(entries, list):
            raise _fail(where, f"must be a list of checks, not {_kind(entries)}")
        if len(entries) > MAX_CHECKS_PER_TYPE:
            raise _fail(where, f"has more than {MAX_CHECKS_PER_TYPE} checks")
        chosen: tuple[int, int, dict] | None = None  # (rank, index, check): startup before readiness
        for index, check in enumerate(entries):
            at = f"{where}[{index}]"
            parsed = _check(check, at, name, notes)
            if parsed is None:
                continue
            rank, seconds = parsed
            uptime = max(uptime, seconds.get("uptime") or 0)
            if rank >= 0 and (chosen is None or rank < chosen[0]):
                if chosen is not None:
                    notes.append(f"{where}[{chosen[1]}]: only one HTTP path is checked per type; ignored")
                chosen = (rank, index, check)
            elif rank >= 0:
                notes.append(f"{at}: only one HTTP path is checked per type; ignored")
        paths[name] = chosen[2]["path"] if chosen else None
        if chosen and name == WEB:
            check = chosen[2]
            budget = {key: value for key in ("initialDelay", "timeout", "wait")
                      if (value := _seconds(check, key, f"{where}[{chosen[1]}]", 0))}
            failures = _seconds(check, "attempts", f"{where}[{chosen[1]}]", 0) or None
            if failures is not None and failures > 100:
                raise _fail(f"{where}[{chosen[1]}].attempts", "must be from 1 to 100")
    return AppJson(healthchecks=paths, update=_update(budget, failures, uptime)), notes


def _check(check: object, at: str, process_type: str, notes: list[str]) -> tuple[int, dict] | None:
    """One check: (rank, its seconds fields); rank 0 a startup and 1 a readiness HTTP check of
    web, -1 a check that gives no HTTP path; None when it is ignored altogether."""
    if not isinstance(check, dict):
        raise _fail(at, f"must be an object, not {_kind(check)}")
    kind = check.get("type", "")
    if not isinstance(kind, str) or kind not in ("", *CHECK_TYPES):
        raise _fail(f"{at}.type", f"must be one of {', '.join(CHECK_TYPES)}")
    seconds = {key: _seconds(check, key, at, 0) for key in ("uptime", "initialDelay", "timeout", "wait", "attempts")}
    path = check.get("path")
    if path is not None and (not isinstance(path, str) or not HEALTHCHECK_RE.match(path)):
        raise _fail(f"{at}.path", "must be a path starting with / (e.g. /health), at most 256 characters")
    unsupported = [key for key in UNSUPPORTED if check.get(key) not in (None, False, [], "")]
    scheme, port = check.get("scheme", "http"), check.get("port", CONTAINER_PORT)
    if scheme not in ("http", "HTTP", "", None):
        unsupported.append("scheme")
    if port not in (CONTAINER_PORT, None):
        unsupported.append("port (checks go to the app's PORT)")
    if kind == "liveness":
        notes.append(f"{at}: liveness checks are not supported (instances are not restarted on checks); ignored")
        return None
    if unsupported:
        notes.append(f"{at}: {', '.join(unsupported)} not supported; this check is ignored")
        return None
    if path is None:
        return -1, seconds
    if process_type != WEB:
        notes.append(f"{at}: HTTP checks apply to the web process type only; ignored")
        return -1, seconds
    return (1 if kind == "readiness" else 0), seconds


def _update(budget: dict[str, int], failures: int | None, uptime: int) -> dict[str, float | int]:
    default = UpdatePolicy()
    update: dict[str, float | int] = {}
    if failures is not None:
        update["check_failures"] = failures
    deadline = default.healthy_deadline
    if budget:
        attempts = failures or DOKKU_ATTEMPTS
        deadline = float(budget.get("initialDelay", 0)
                         + attempts * (budget.get("timeout", DOKKU_TIMEOUT) + budget.get("wait", DOKKU_WAIT)))
    if uptime:
        update["min_healthy_time"] = float(uptime)
        deadline += uptime
    if budget or uptime:
        update["healthy_deadline"] = float(min(deadline, MAX_SECONDS))
        if update.get("min_healthy_time", default.min_healthy_time) >= update["healthy_deadline"]:
            raise ValidationError(f"app.json: an uptime of {uptime}s leaves no time to start within "
                                  f"{MAX_SECONDS}s; use a shorter uptime")
    return update
