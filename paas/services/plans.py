"""What to run for a release: the release (build + config), the app (domains, TLS), the formation
(quantities, limits, health checks, update policy) and the build's app.json merged into one AppPlan.

Which wins: a setting the app's owner made explicitly (`healthchecks:set`, `ps:update`, PATCH
formation) beats the build's app.json, which beats the platform's defaults. app.json travels
with the code, so it is the code's default; explicit per-app settings are how an operator adapts
one deployment of that code (as Heroku config beats app.json's env). `healthchecks:unset` and an
update value of null clear the explicit setting, and app.json's applies again."""

from __future__ import annotations

from dataclasses import asdict

from paas.domain.appjson import AppJson
from paas.domain.apps import App
from paas.domain.errors import ValidationError
from paas.domain.formation import Formation
from paas.domain.ports import BuildStore
from paas.domain.releases import Release
from paas.domain.scheduler import AppPlan, ProcessPlan, UpdatePolicy


def build_plan(app: App, release: Release, formation: Formation, app_json: AppJson | None = None) -> AppPlan | None:
    """What to run for a release; None while the app has no build. app_json: what the release's
    build declares (Build.app_json)."""
    if not release.image:
        return None
    processes = []
    for name, command in sorted(release.procfile.items()):
        spec = formation.processes.get(name)
        processes.append(ProcessPlan(
            type=name, command=command, quantity=spec.quantity if spec else (1 if name == "web" else 0),
            memory=spec.memory if spec else None, cpu=spec.cpu if spec else None,
            healthcheck=healthcheck(name, formation, app_json),
        ))
    return AppPlan(app=app.name, release=release.version, image=release.image, env=dict(release.config),
                   processes=processes, update=update_policy(formation, app_json), domains=list(app.domains),
                   force_tls=app.tls_force, git_sha=release.git_sha,
                   build_id=release.build_id, restart_token=formation.restart_token)


def declared(builds: BuildStore, app: str, release: Release | None) -> AppJson | None:
    """What the release's build declares in its app.json (the build_plan argument); None for a
    release without a build, a build from an image, or one stored before app.json support.
    Builds never change, so a caller may keep the answer per build id."""
    if release is None or not release.build_id:
        return None
    build = builds.get(app, release.build_id)
    return build.app_json if build else None


def healthcheck(process_type: str, formation: Formation, app_json: AppJson | None) -> str | None:
    """The HTTP path checked for a type: the app's own setting, else app.json's, else none."""
    spec = formation.processes.get(process_type)
    if spec and spec.healthcheck:
        return spec.healthcheck
    return app_json.healthchecks.get(process_type) if app_json else None


def _merged(formation: Formation, app_json: AppJson) -> UpdatePolicy:
    explicit = {key: getattr(formation.update, key) for key in formation.update_set}
    return UpdatePolicy(**{**asdict(UpdatePolicy()), **app_json.update, **explicit}).validate()


def update_policy(formation: Formation, app_json: AppJson | None) -> UpdatePolicy:
    """Defaults, under app.json's values, under the fields the app's owner set. If app.json's
    values cannot go with the owner's (e.g. its min_healthy_time beyond their healthy_deadline),
    the owner's settings apply alone."""
    if not app_json or not app_json.update:
        return formation.update
    try:
        return _merged(formation, app_json)
    except ValidationError:
        return formation.update


def app_json_overrides(formation: Formation, app_json: AppJson | None) -> list[str]:
    """What app.json declares that the app's own settings override, for the push output."""
    if not app_json:
        return []
    lines = []
    for name, path in sorted(app_json.healthchecks.items()):
        spec = formation.processes.get(name)
        if path and spec and spec.healthcheck and spec.healthcheck != path:
            lines.append(f"app.json's health check of {name} ({path}) is overridden by this app's "
                         f"{spec.healthcheck} (`paas healthchecks:unset {name}` to use app.json's)")
    for key, value in sorted(app_json.update.items()):
        mine = getattr(formation.update, key)
        if key in formation.update_set and mine != value:
            lines.append(f"app.json's {key} ({value:g}) is overridden by this app's setting ({mine:g})")
    if app_json.update:
        try:
            _merged(formation, app_json)
        except ValidationError as exc:
            lines.append(f"app.json's update settings are ignored: with this app's settings they break a rule ({exc})")
    return lines
