"""The maintenance resource: the app's hosts answer a 503 page while it is on."""

from .views import blp

__all__ = ["blp"]
