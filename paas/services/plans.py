"""What to run for a release: the release (build + config), the app (domains, TLS) and the
formation (quantities, limits, health checks, update policy) merged into one AppPlan."""

from __future__ import annotations

from paas.domain.apps import App
from paas.domain.formation import Formation
from paas.domain.releases import Release
from paas.domain.scheduler import AppPlan, ProcessPlan


def build_plan(app: App, release: Release, formation: Formation) -> AppPlan | None:
    """What to run for a release; None while the app has no build."""
    if not release.image:
        return None
    processes = []
    for name, command in sorted(release.procfile.items()):
        spec = formation.processes.get(name)
        processes.append(ProcessPlan(
            type=name, command=command, quantity=spec.quantity if spec else (1 if name == "web" else 0),
            memory=spec.memory if spec else None, cpu=spec.cpu if spec else None,
            healthcheck=spec.healthcheck if spec else None,
        ))
    return AppPlan(app=app.name, release=release.version, image=release.image, env=dict(release.config),
                   processes=processes, update=formation.update, domains=list(app.domains),
                   force_tls=app.tls_force, git_sha=release.git_sha,
                   build_id=release.build_id, restart_token=formation.restart_token)
