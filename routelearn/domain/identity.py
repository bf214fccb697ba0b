"""Identities that make ingestion exact: event ids, decision keys, dead-letter keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

DERIVED_PREFIX = "sha256:"


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def derive_event_id(normalized_event: dict[str, Any]) -> str:
    """Id of an event sent without ``event_id``: the hash of its normalized content.

    The caller passes the validated event as JSON-mode data, so two spellings of one event
    (``Z`` or ``+00:00``, key order, ``450`` or ``450.0``) get one id.
    """
    content = {k: v for k, v in normalized_event.items() if k != "event_id"}
    return DERIVED_PREFIX + hashlib.sha256(canonical_json(content).encode()).hexdigest()


def decision_key(event_id: str, decision_id: str | None) -> str:
    """A decision is named by ``decision_id``; an event without one is a decision of its own."""
    return f"d:{decision_id}" if decision_id is not None else f"e:{event_id}"


def dead_letter_key(payload: Any) -> str:
    """Dedupe key of a rejected payload, so a redelivered bad message is kept once."""
    try:
        text = canonical_json(payload)
    except (TypeError, ValueError):
        text = repr(payload)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
