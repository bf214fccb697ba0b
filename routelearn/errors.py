"""The one exception hierarchy of routelearn."""

from __future__ import annotations

from collections.abc import Sequence


class RouteLearnError(Exception):
    """Root of every error routelearn raises on purpose."""


class ConfigError(RouteLearnError):
    """A setting is missing or invalid; the message names the environment variable."""


class TransientError(RouteLearnError):
    """A dependency (database, broker) did not answer; the operation may succeed if retried."""


class CatalogError(RouteLearnError):
    """A catalog file or snapshot is unreadable or invalid; ``problems`` lists each error."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = tuple(problems) or (message,)
        if problems:
            message = "\n  ".join([message, *problems])
        super().__init__(message)


class UnknownQueryError(RouteLearnError, LookupError):
    """No shipped dashboard query has this name; the message lists the known ones."""
