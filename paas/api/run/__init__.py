"""The run resource."""

from .views import blp

__all__ = ["blp"]
