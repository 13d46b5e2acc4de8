"""The router pages (not part of /v1): what a host without a serving instance answers."""

from .views import bp

__all__ = ["bp"]
