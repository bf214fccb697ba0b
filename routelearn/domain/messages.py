"""What every message off the network (registry and policy changes, spend and quality
reports) validates alike: aware timestamps, and one line naming the first bad field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, ValidationError


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. Z)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def first_error(what: str, exc: ValidationError) -> str:
    """``what: field.path: message, got value`` for the first error."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{what}: {where}: {first['msg']}, got {first.get('input')!r:.200}"
