"""Identities that make ingestion exact: event ids, decision keys, dead-letter keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec

DERIVED_PREFIX = "sha256:"


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def derive_event_id(normalized_event: dict[str, Any], *, floats_spelled_alike: bool = False) -> str:
    """Id of an event sent without ``event_id``: the hash of its normalized content.

    The caller passes the validated event as JSON-mode data, so two spellings of one event
    (``Z`` or ``+00:00``, key order, ``450`` or ``450.0``) get one id.
    """
    content = {k: v for k, v in normalized_event.items() if k != "event_id"}
    digest = hashlib.sha256(canonical_bytes(content, floats_spelled_alike=floats_spelled_alike))
    return DERIVED_PREFIX + digest.hexdigest()


def spelled_alike(number: float) -> bool:
    """msgspec and the standard library write this float the same way (not so below 1e-4 or
    from 1e16 on: ``0.00001`` for ``1e-05``, ``1e16`` for ``1e+16``)."""
    return number == 0 or 1e-4 <= abs(number) < 1e16


def canonical_bytes(value: Any, *, floats_spelled_alike: bool = False) -> bytes:
    """``canonical_json(value)`` in UTF-8. When the caller vouches that every float in ``value``
    is ``spelled_alike``, msgspec writes it, several times faster and byte for byte the same
    (tests/unit/test_identity.py holds it to that)."""
    if floats_spelled_alike:
        try:
            return msgspec.json.encode(value, order="sorted")
        except (TypeError, ValueError, OverflowError):
            pass
    return canonical_json(value).encode()


def decision_key(event_id: str, decision_id: str | None) -> str:
    """A decision is named by ``decision_id``; an event without one is a decision of its own."""
    return f"d:{decision_id}" if decision_id is not None else f"e:{event_id}"


_SELF_CONTAINED = f"e:{DERIVED_PREFIX}"


def counted_by_its_event(key: str) -> bool:
    """The decision of one event sent with neither ``decision_id`` nor ``event_id`` (seed
    001's own format): its id hashes its whole content, timestamp included, so the audit row's
    key (event_id, timestamp) already lets it in once, and no other event can name it. It
    needs no decision row to count once. (An event that brings its own ``event_id`` does: it
    may come again with another timestamp, which the audit key would take as new.)"""
    return key.startswith(_SELF_CONTAINED)


def dead_letter_key(payload: Any) -> str:
    """Dedupe key of a rejected payload, so a redelivered bad message is kept once."""
    try:
        text = canonical_json(payload)
    except (TypeError, ValueError):
        text = repr(payload)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
