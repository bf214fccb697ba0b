"""The ``api_keys`` table: create, list, revoke, and find the key a request presents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from routelearn.domain.api_keys import NewKey, Role, new_key, parse_token, secret_matches
from routelearn.errors import RouteLearnError
from routelearn.store.tables import api_keys

# last_used_at is written at most this often per key: a busy key must not cost a write a request.
_TOUCH_EVERY = timedelta(seconds=60)


class ApiKeyError(RouteLearnError):
    """A key operation was refused; the message says why."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _row(r: object) -> ApiKey:
    m = r._mapping  # type: ignore[attr-defined]
    return ApiKey(
        m["key_id"], m["name"], Role(m["role"]), m["created_at"], m["last_used_at"], m["revoked_at"]
    )


_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.name,
    api_keys.c.role,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)


def create(engine: Engine, name: str, role: Role) -> tuple[ApiKey, str]:
    """A new key: its record and the token, which exists nowhere else (show it once)."""
    if not name.strip():
        raise ApiKeyError("name must not be empty")
    key: NewKey = new_key()
    try:
        with engine.begin() as conn:
            row = conn.execute(
                insert(api_keys)
                .values(key_id=key.key_id, name=name, role=role.value, secret_hash=key.secret_hash)
                .returning(*_COLUMNS)
            ).one()
    except IntegrityError:
        raise ApiKeyError(f"a key named {name!r} exists already") from None
    return _row(row), key.token


def list_keys(engine: Engine, include_revoked: bool = False) -> list[ApiKey]:
    query = select(*_COLUMNS).order_by(api_keys.c.created_at)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def revoke(engine: Engine, name: str) -> ApiKey:
    with engine.begin() as conn:
        row = conn.execute(
            update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
            .returning(*_COLUMNS)
        ).one_or_none()
    if row is None:
        raise ApiKeyError(f"no active key named {name!r}")
    return _row(row)


def authenticate(engine: Engine, token: str) -> ApiKey | None:
    """The active key ``token`` belongs to, or None (malformed, unknown, wrong secret, revoked:
    the caller cannot tell which, and neither can whoever is guessing)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    with engine.connect() as conn:
        row = conn.execute(
            select(*_COLUMNS, api_keys.c.secret_hash).where(api_keys.c.key_id == key_id)
        ).one_or_none()
    if row is None or not secret_matches(secret, row.secret_hash) or row.revoked_at is not None:
        return None
    key = _row(row)
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at >= _TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(
                update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at=now)
            )
    return key
