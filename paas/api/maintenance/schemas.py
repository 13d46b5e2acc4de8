from marshmallow import Schema

from ..spec import StrictBoolean


class MaintenanceSchema(Schema):
    enabled = StrictBoolean(required=True, metadata={
        "description": "the app's hosts answer 503 '<app> is in maintenance'; its instances keep running"})
