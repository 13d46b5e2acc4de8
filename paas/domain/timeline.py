"""A timeline: when each phase of a build or a deployment began and ended, so a user (and the
benchmark) sees where the seconds of a push go. Pure values; the clock is the caller's.

Build phases (the builder's): receive, detect, dependencies, assemble, publish.
Deployment phases (the deploy service's): start (canaries placed), first_check (until a
canary's check first passes), healthy (passing for min_healthy_time), promote, routed (until
the router sends requests to the new instances), drain (old instances drained and stopped)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

BUILD_PHASES = ("receive", "detect", "dependencies", "assemble", "publish")
DEPLOY_PHASES = ("start", "first_check", "healthy", "promote", "routed", "drain")
LABELS = {
    "receive": "receive (git + upload)", "detect": "detect", "dependencies": "dependencies",
    "assemble": "image assembly", "publish": "image push", "start": "canary start",
    "first_check": "first check passing", "healthy": "healthy for min_healthy_time",
    "promote": "promoted", "routed": "first request routed", "drain": "old instances drained and stopped",
}


@dataclass
class Mark:
    phase: str
    started_at: float  # epoch seconds
    ended_at: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else max(0.0, self.ended_at - self.started_at)

    def to_dict(self) -> dict:
        return {**asdict(self), "duration": None if self.duration is None else round(self.duration, 3)}

    @classmethod
    def from_dict(cls, data: dict) -> Mark:
        return cls(phase=str(data["phase"]), started_at=float(data["started_at"]),
                   ended_at=None if data.get("ended_at") is None else float(data["ended_at"]))


def begin(marks: list[Mark], phase: str, at: float) -> None:
    """Start `phase` at `at` (ending the phase still open, which the new one follows); a phase
    that was begun already keeps its first start (a resumed deployment does not restart it)."""
    if any(m.phase == phase for m in marks):
        return
    for mark in marks:
        if mark.ended_at is None:
            mark.ended_at = at
    marks.append(Mark(phase, at))


def end(marks: list[Mark], phase: str, at: float) -> None:
    for mark in marks:
        if mark.phase == phase and mark.ended_at is None:
            mark.ended_at = at


def close(marks: list[Mark], at: float) -> None:
    """End whatever is still open (the deployment or build ended)."""
    for mark in marks:
        if mark.ended_at is None:
            mark.ended_at = at


def has(marks: list[Mark], phase: str) -> bool:
    return any(m.phase == phase for m in marks)


def render(marks: list[Mark]) -> list[str]:
    """One line per phase: `label  1.23 s` (open phases say so)."""
    lines = []
    for mark in marks:
        label = LABELS.get(mark.phase, mark.phase)
        took = "running" if mark.duration is None else f"{mark.duration:6.2f} s"
        lines.append(f"{label:<36} {took}")
    return lines
