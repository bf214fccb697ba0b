"""API keys: their format, how a secret is stored (hashed) and checked, and what each role may do.

A key is ``rl_<key id>_<secret>``: the key id (12 hex characters) finds the stored row without
scanning, the secret (43 URL-safe characters, 256 random bits) is never stored, only its
SHA-256. A slow password hash (bcrypt, argon2) protects low-entropy passwords against guessing
from a stolen table; a 256-bit random secret cannot be guessed, so one SHA-256 suffices and keeps
every request's check to a microsecond. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "rl"
_KEY_ID_HEX = 12
_SECRET_BYTES = 32
_FORMAT = re.compile(rf"^{PREFIX}_([0-9a-f]{{{_KEY_ID_HEX}}})_([A-Za-z0-9_-]{{20,128}})$")


class Role(StrEnum):
    READER = "reader"  # GET anything
    INSTANCE = "instance"  # an application instance: send events, route, read scores
    OPERATOR = "operator"  # also write the registry
    ADMIN = "admin"  # also keys and imports


class Permission(StrEnum):
    READ = "read"
    SEND_EVENTS = "send_events"
    ROUTE = "route"
    WRITE_REGISTRY = "write_registry"
    ADMINISTER = "administer"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.READER: frozenset({Permission.READ}),
    Role.INSTANCE: frozenset({Permission.READ, Permission.SEND_EVENTS, Permission.ROUTE}),
    Role.OPERATOR: frozenset(
        {Permission.READ, Permission.SEND_EVENTS, Permission.ROUTE, Permission.WRITE_REGISTRY}
    ),
    Role.ADMIN: frozenset(Permission),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key: ``token`` is shown to its owner once; only ``secret_hash`` is kept."""

    key_id: str
    token: str
    secret_hash: str


def new_key() -> NewKey:
    key_id = secrets.token_hex(_KEY_ID_HEX // 2)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return NewKey(key_id, f"{PREFIX}_{key_id}_{secret}", hash_secret(secret))


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None without one."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None (never an error: the caller answers
    401 either way, and must not say which part was wrong)."""
    match = _FORMAT.match(token)
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
