"""The one exception hierarchy of routelearn."""

from __future__ import annotations


class RouteLearnError(Exception):
    """Root of every error routelearn raises on purpose."""


class ConfigError(RouteLearnError):
    """A setting is missing or invalid; the message names the environment variable."""


class TransientError(RouteLearnError):
    """A dependency (database, broker) did not answer; the operation may succeed if retried."""


class PublishError(RouteLearnError):
    """Events could not be handed to the broker."""
