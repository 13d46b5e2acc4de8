from marshmallow import Schema, fields, validate

from paas.domain.logs import SOURCE_PATTERN
from paas.domain.patterns import full
from paas.domain.processes import PROCESS_TYPE_PATTERN

MAX_FILTERS = 20


class LogArgs(Schema):
    tail = fields.Integer(load_default=100, validate=validate.Range(min=0, max=10000),
                          metadata={"description": "lines in total across every source (the newest ones)"})
    follow = fields.Boolean(load_default=False)
    type = fields.List(fields.String(validate=validate.Regexp(full(PROCESS_TYPE_PATTERN)),
                                     metadata={"pattern": PROCESS_TYPE_PATTERN}),
                       load_default=list, validate=validate.Length(max=MAX_FILTERS),
                       metadata={"description": "only these process types (also router, release, run)"})
    source = fields.List(fields.String(validate=validate.Regexp(full(SOURCE_PATTERN)),
                                       metadata={"pattern": SOURCE_PATTERN}),
                         load_default=list, validate=validate.Length(max=MAX_FILTERS),
                         metadata={"description": "only these sources, e.g. web.1a2b3c, router"})
    since = fields.String(validate=validate.Length(max=40),
                          metadata={"description": "a duration back from now (30s, 10m, 2h, 1d) or an ISO 8601 time"})
    format = fields.String(load_default="text", validate=validate.OneOf(["text", "json"]),
                           metadata={"description": "text lines, or NDJSON: one object per line"})
