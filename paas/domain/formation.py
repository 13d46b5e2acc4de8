"""Formation: how many instances of each process type run, and their limits."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .builds import validate_process_type
from .errors import ValidationError

MAX_QUANTITY = 100


@dataclass
class ProcessSpec:
    quantity: int = 0
    memory: str | None = None
    cpu: float | None = None


@dataclass
class Formation:
    app: str
    processes: dict[str, ProcessSpec] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"app": self.app, "processes": {k: asdict(v) for k, v in self.processes.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> Formation:
        return cls(app=data["app"], processes={k: ProcessSpec(**v) for k, v in data.get("processes", {}).items()})

    def scaled(self, quantities: dict[str, int], available_types: set[str]) -> Formation:
        if not quantities:
            raise ValidationError("No process types given to scale")
        if not available_types:
            raise ValidationError("The app has no build yet: deploy code before scaling")
        processes = {k: ProcessSpec(**asdict(v)) for k, v in self.processes.items()}
        for name, quantity in quantities.items():
            validate_process_type(name)
            if name not in available_types:
                raise ValidationError(
                    f"Process type {name!r} is not in the current release (available: {', '.join(sorted(available_types))})"
                )
            if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= MAX_QUANTITY:
                raise ValidationError(f"Quantity for {name} must be an integer from 0 to {MAX_QUANTITY}")
            processes.setdefault(name, ProcessSpec()).quantity = quantity
        return Formation(app=self.app, processes=processes)

    def for_process_types(self, types: set[str]) -> Formation:
        """Follow a new build's process types: keep known quantities, web starts at 1, others at 0."""
        processes = {}
        for name in sorted(types):
            spec = self.processes.get(name)
            processes[name] = spec if spec else ProcessSpec(quantity=1 if name == "web" else 0)
        return Formation(app=self.app, processes=processes)
