"""The OpenAPI spec states the domain's own input rules: patterns and lengths come from paas.domain
(one source), so the spec, the schemas and the services cannot drift apart.

The services validate (400 with a message naming the rule); the schemas publish the same rule
through field metadata, and the plugin below documents path parameters by name."""

from __future__ import annotations

import re
from typing import Any

from apispec import BasePlugin
from marshmallow import ValidationError, fields, validate
from werkzeug.routing import BaseConverter

from paas.domain.apps import APP_NAME_MAX, APP_NAME_MIN, APP_NAME_PATTERN
from paas.domain.builds import PROCESS_TYPE_PATTERN
from paas.domain.domains import HOSTNAME_PATTERN, MAX_HOSTNAME_LENGTH
from paas.domain.keys import KEY_NAME_PATTERN
from paas.domain.patterns import full
from paas.domain.releases import VERSION_PATTERN
from paas.domain.users import USERNAME_PATTERN

HEX_ID_PATTERN = r"^[0-9a-f]{1,64}$"


def rule(pattern: str | None = None, min_length: int | None = None, max_length: int | None = None,
         **metadata: Any) -> dict:
    """Field metadata that publishes a domain rule in the spec (validation stays in the domain)."""
    if pattern:
        metadata["pattern"] = pattern
    if min_length is not None:
        metadata["minLength"] = min_length
    if max_length is not None:
        metadata["maxLength"] = max_length
    return metadata


class FullMatch(validate.Validator):
    """Like marshmallow's Regexp (apispec publishes `regex.pattern`), but the whole value must
    match: Regexp uses re.match, where `$` also accepts a trailing newline."""

    def __init__(self, pattern: str, error: str | None = None):
        self.regex = re.compile(pattern)  # what the spec shows (apispec reads regex.pattern)
        self._whole = full(pattern)
        self.error = error or "String does not match expected pattern."

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self._whole.match(value) is None:
            raise ValidationError(self.error)
        return value


# Path parameters by name, wherever they appear.
PATH_PARAMETERS: dict[str, dict] = {
    "app": {"type": "string", "pattern": APP_NAME_PATTERN, "minLength": APP_NAME_MIN, "maxLength": APP_NAME_MAX},
    "version": {"type": "string", "pattern": VERSION_PATTERN, "maxLength": 10, "description": "vN or N"},
    "username": {"type": "string", "pattern": USERNAME_PATTERN, "maxLength": 40},
    "name": {"type": "string", "pattern": KEY_NAME_PATTERN, "maxLength": 64},
    "domain": {"type": "string", "pattern": HOSTNAME_PATTERN, "maxLength": MAX_HOSTNAME_LENGTH},
    "build_id": {"type": "string", "pattern": HEX_ID_PATTERN},
    "token_id": {"type": "string", "pattern": HEX_ID_PATTERN},
    "drain_id": {"type": "string", "pattern": HEX_ID_PATTERN},
    "deployment_id": {"type": "string", "maxLength": 64},
    "type": {"type": "string", "pattern": PROCESS_TYPE_PATTERN},
}


class PathParameterPlugin(BasePlugin):
    """Runs after flask-smorest's Flask plugin has listed a rule's path parameters."""

    def path_helper(self, path=None, operations=None, parameters=None, **kwargs):
        for parameter in parameters or []:
            if isinstance(parameter, dict) and parameter.get("in") == "path" and parameter["name"] in PATH_PARAMETERS:
                parameter["schema"] = dict(PATH_PARAMETERS[parameter["name"]])
        return None


class VersionConverter(BaseConverter):
    """<release_version:...> in routes: vN or N only, so /releases/rollback is never a version."""

    regex = VERSION_PATTERN[1:-1]


class HexIdConverter(BaseConverter):
    """<hex_id:...>: build and token ids, so /builds/source is never a build id."""

    regex = HEX_ID_PATTERN[1:-1]


CONVERTERS = {"release_version": VersionConverter, "hex_id": HexIdConverter}


class StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow's Boolean also takes 0, 1, "yes", "on"..."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
