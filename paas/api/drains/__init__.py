"""The drains resource."""

from .views import blp

__all__ = ["blp"]
