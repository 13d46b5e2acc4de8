"""Formation: how many instances of each process type run, and their limits."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field

from .errors import ValidationError
from .patterns import full
from .processes import HEALTHCHECK_PATTERN, HEALTHCHECK_RE, validate_process_type  # noqa: F401 - re-exported
from .scheduler import WEB, UpdatePolicy

MAX_QUANTITY = 100


MEMORY_PATTERN = r"^([0-9]{1,6})([KMGkmg])[Bb]?$"
MEMORY_RE = full(MEMORY_PATTERN)
MIN_MEMORY_BYTES = 6 * 1024 * 1024


@dataclass
class ProcessSpec:
    quantity: int = 0
    memory: str | None = None
    cpu: float | None = None
    healthcheck: str | None = None


@dataclass
class Formation:
    """Desired quantities and limits per process type, the app's update policy, and a restart
    token: changing limits, health checks or the token rolls fresh instances of the live release."""

    app: str
    processes: dict[str, ProcessSpec] = field(default_factory=dict)
    update: UpdatePolicy = field(default_factory=UpdatePolicy)
    restart_token: str = ""
    # The update fields the app's owner set (ps:update, PATCH formation): these beat app.json's;
    # the others are the platform's defaults, which app.json may change.
    update_set: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"app": self.app, "processes": {k: asdict(v) for k, v in self.processes.items()},
                "update": asdict(self.update), "restart_token": self.restart_token,
                "update_set": list(self.update_set)}

    @classmethod
    def from_dict(cls, data: dict) -> Formation:
        update = UpdatePolicy(**data.get("update", {}))
        if "update_set" in data:
            update_set = tuple(data["update_set"])
        else:
            # Stored before app.json support: a value that differs from the default was set.
            defaults = asdict(UpdatePolicy())
            update_set = tuple(k for k, v in asdict(update).items() if v != defaults[k])
        # What the owner did not set follows the platform's defaults, also when those change.
        update = UpdatePolicy(**{**asdict(UpdatePolicy()), **{k: v for k, v in asdict(update).items()
                                                               if k in update_set}})
        return cls(
            app=data["app"],
            processes={k: ProcessSpec(**v) for k, v in data.get("processes", {}).items()},
            update=update,
            restart_token=data.get("restart_token", ""),
            update_set=update_set,
        )

    def copy(self) -> Formation:
        return Formation.from_dict(self.to_dict())

    def describe(self) -> dict[str, str]:
        """What a release records of the formation it was made under, flat and comparable:
        `web.quantity`, `web.memory`, `web.cpu`, `web.healthcheck` for each type with a value,
        `update.<field>` for what the owner set (the rest follows the platform's defaults)."""
        described: dict[str, str] = {}
        for name, spec in sorted(self.processes.items()):
            described[f"{name}.quantity"] = str(spec.quantity)
            for key in ("memory", "cpu", "healthcheck"):
                value = getattr(spec, key)
                if value is not None:
                    described[f"{name}.{key}"] = f"{value:g}" if isinstance(value, float) else str(value)
        for key in sorted(self.update_set):
            value = getattr(self.update, key, None)
            if value is not None:
                described[f"update.{key}"] = f"{value:g}s" if isinstance(value, float) else str(value)
        return described

    def with_limits(self, limits: dict[str, dict], available_types: set[str]) -> Formation:
        """limits: {type: {"memory": "512M" | None, "cpu": 0.5 | None}}; None clears."""
        updated = self.copy()
        for name, values in limits.items():
            spec = updated._spec(name, available_types)
            if "memory" in values:
                spec.memory = validate_memory(values["memory"]) if values["memory"] is not None else None
            if "cpu" in values:
                cpu = values["cpu"]
                if cpu is not None and not (isinstance(cpu, int | float) and 0.01 <= cpu <= 64):
                    raise ValidationError(f"CPU limit for {name} must be between 0.01 and 64 cores")
                spec.cpu = float(cpu) if cpu is not None else None
        updated.restart_token = new_restart_token()
        return updated

    def with_healthchecks(self, checks: dict[str, str | None], available_types: set[str]) -> Formation:
        """Set (a path) or clear (None) the HTTP check of each type. Before the first build only
        web can be named: its check is kept and applies at the first deploy."""
        updated = self.copy()
        for name, path in checks.items():
            if name == WEB and not available_types:
                validate_process_type(name)
                spec = updated.processes.setdefault(name, ProcessSpec(quantity=1))
            elif not available_types:
                raise ValidationError(f"The app has no build yet: only web can have a health check before the "
                                      f"first deploy ({str(name)[:30]!r} must be declared by a build first)")
            else:
                spec = updated._spec(name, available_types)
            if path is not None and (not isinstance(path, str) or not HEALTHCHECK_RE.match(path)):
                raise ValidationError(f"Health check path for {name} must start with / (e.g. /health)")
            if path is not None and name != WEB:
                raise ValidationError("HTTP health checks apply to the web process type only")
            spec.healthcheck = path
        updated.restart_token = new_restart_token()
        return updated

    def with_update_policy(self, values: dict) -> Formation:
        """Set update fields (they then beat app.json's); a None value goes back to the default."""
        updated = self.copy()
        defaults = asdict(UpdatePolicy())
        unknown = set(values) - set(defaults)
        if unknown:
            raise ValidationError(f"Unknown update setting {sorted(unknown)[0][:40]!r}")
        merged = {**asdict(self.update), **{k: defaults[k] if v is None else v for k, v in values.items()}}
        updated.update = UpdatePolicy(**merged).validate()
        explicit = (set(self.update_set) | {k for k, v in values.items() if v is not None}) \
            - {k for k, v in values.items() if v is None}
        updated.update_set = tuple(sorted(explicit))
        return updated

    def restarted(self) -> Formation:
        updated = self.copy()
        updated.restart_token = new_restart_token()
        return updated

    def _spec(self, name: str, available_types: set[str]) -> ProcessSpec:
        validate_process_type(name)
        if name not in available_types:
            raise ValidationError(f"Process type {name!r} is not in the current release")
        return self.processes.setdefault(name, ProcessSpec())


    def scaled(self, quantities: dict[str, int], available_types: set[str]) -> Formation:
        if not quantities:
            raise ValidationError("No process types given to scale")
        if not available_types:
            raise ValidationError("The app has no build yet: deploy code before scaling")
        updated = self.copy()
        processes = updated.processes
        for name, quantity in quantities.items():
            validate_process_type(name)
            if name not in available_types:
                raise ValidationError(
                    f"Process type {name!r} is not in the current release (available: {', '.join(sorted(available_types))})"
                )
            if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= MAX_QUANTITY:
                raise ValidationError(f"Quantity for {name} must be an integer from 0 to {MAX_QUANTITY}")
            processes.setdefault(name, ProcessSpec()).quantity = quantity
        return updated

    def for_process_types(self, types: set[str]) -> Formation:
        """Follow a new build's process types: keep known quantities, web starts at 1, others at 0."""
        updated = self.copy()
        updated.processes = {
            name: updated.processes.get(name) or ProcessSpec(quantity=1 if name == "web" else 0)
            for name in sorted(types)
        }
        return updated


def validate_memory(value: str) -> str:
    match = MEMORY_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValidationError(f"Invalid memory limit {str(value)[:20]!r}: use e.g. 512M or 1G")
    number, unit = int(match.group(1)), match.group(2).upper()
    if number * {"K": 1024, "M": 1024**2, "G": 1024**3}[unit] < MIN_MEMORY_BYTES:
        raise ValidationError("Memory limits start at 6M")
    return f"{number}{unit}"


def new_restart_token() -> str:
    return secrets.token_hex(4)
