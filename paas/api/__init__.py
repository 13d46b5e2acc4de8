"""The REST API: create_app() assembles flask-smorest blueprints, one package per resource."""

from __future__ import annotations

from flask import Flask, jsonify
from flask_smorest import Api

from paas.config import Settings
from paas.wiring import Services, build_services

from . import (
    apps,
    auth,
    builds,
    config,
    deployments,
    domains,
    drains,
    formation,
    gateway,
    keys,
    logs,
    maintenance,
    perms,
    ps,
    releases,
    router_pages,
    run,
    tls,
    users,
)
from .errors import register_error_handlers
from .guard import install as install_guard
from .spec import CONVERTERS, PathParameterPlugin

RESOURCES = (auth, users, keys, apps, config, releases, builds, formation, ps, deployments, logs, drains, run, domains,
             tls, maintenance, perms, gateway)


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("paas")
    app.config.update(
        API_TITLE="paas",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        JSON_SORT_KEYS=False,
    )
    app.extensions["paas"] = services or build_services(settings)
    app.url_map.converters.update(CONVERTERS)
    api = Api(app, spec_kwargs={"extra_plugins": [PathParameterPlugin()]})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for resource in RESOURCES:
        api.register_blueprint(resource.blp)
    app.register_blueprint(router_pages.bp)
    register_error_handlers(app)
    install_guard(app, app.extensions["paas"].settings)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app
