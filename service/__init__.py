"""The comment moderation service: Flask API and the domain code the workers share."""

from service.app import create_app

__all__ = ["create_app"]
