"""The gateway resource: what the SSH gateway asks the controller."""

from .views import blp

__all__ = ["blp"]
