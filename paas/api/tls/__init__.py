"""The tls resource: certificates and tls:force."""

from .views import blp

__all__ = ["blp"]
