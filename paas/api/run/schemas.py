from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from paas.domain.run_stream import MAX_TERMINAL_SIDE


class RunSchema(Schema):
    command = fields.String(required=True, validate=validate.Length(min=1, max=4096))


class JsonBoolean(fields.Boolean):
    """JSON true or false only: marshmallow's Boolean also takes 1, 0, "yes", "on"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class AttachSchema(RunSchema):
    tty = JsonBoolean(load_default=False, metadata={"description": "give the command a terminal"})
    rows = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_TERMINAL_SIDE))
    cols = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_TERMINAL_SIDE))

    @validates_schema
    def _size_is_whole(self, data: dict, **kwargs) -> None:
        if ("rows" in data) != ("cols" in data):
            raise ValidationError("Give both rows and cols, or neither")


class DetachedRunSchema(Schema):
    name = fields.String(metadata={"description": "the run's name, the source of its log lines (run.4d5e6f)"})
