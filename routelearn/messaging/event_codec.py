"""Events as JSON bytes on the way to the workers: the publisher's encoding, fast and faithful.

A batch message's body is built by joining each event's JSON, so an event given as raw JSON
bytes (a line of a JSON Lines file) is sent as it is, never parsed into objects and dumped again,
and events given as objects are dumped by msgspec, several times faster than the standard
library (docs/performance.md). Both keep the standard library's meaning exactly:

- Raw bytes are checked to be one JSON value in UTF-8 first (a broken one would spoil the whole
  batch). msgspec checks the syntax without building any object (decoding to ``msgspec.Raw``),
  a third of the cost of parsing; what it refuses but ``json.loads`` takes (``NaN``, UTF-16
  text, lone surrogates, ...) is re-encoded the standard library's way, so the workers see what
  they saw before and dead-letter what they dead-lettered before.
- msgspec writes a NaN or infinite float as ``null``, which would turn a bad latency into a
  missing one; an event with such a float, or with anything msgspec cannot encode, goes through
  kombu's encoder instead (the workers then refuse the non-finite value by name).
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from kombu.exceptions import EncodeError
from kombu.utils.json import dumps as kombu_dumps

RAW_TYPES = (bytes, bytearray, memoryview)
_RAW_SET = frozenset(RAW_TYPES)

_SYNTAX = msgspec.json.Decoder(msgspec.Raw)  # skips over the value: checks, builds nothing


class NotJSONError(ValueError):
    """Raw bytes that are not one JSON value."""


def check_raw(raw: bytes | bytearray | memoryview) -> bytes:
    """``raw`` as the bytes to send: itself when it is one JSON value in UTF-8, re-encoded when
    only the standard library reads it; NotJSONError otherwise."""
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    try:
        _SYNTAX.decode(raw)
        # Strings are skipped, not decoded: their UTF-8 is checked here (ASCII is UTF-8).
        if not raw.isascii():
            codecs.utf_8_decode(raw, "strict", True)
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    else:
        return raw
    try:
        value = json.loads(raw)
    except ValueError as exc:  # bad UTF-8 is a ValueError too
        raise NotJSONError(f"not JSON: {exc}") from None
    return encode_event(value)


def encode_event(event: Any) -> bytes:
    """One event as JSON bytes; kombu's EncodeError for what no JSON encoder takes."""
    if isinstance(event, RAW_TYPES):
        return bytes(event)
    if _finite(event):
        try:
            return msgspec.json.encode(event)
        except Exception:  # msgspec refuses it: kombu's rules decide
            pass
    try:
        text: str = kombu_dumps(event)
        return text.encode("utf-8", "surrogatepass")
    except Exception as exc:
        raise EncodeError(exc) from exc


def encode_batch(events: Sequence[Any]) -> bytes:
    """The JSON array of ``events``; raises EncodeError when one of them cannot be encoded."""
    kinds = set(map(type, events))
    if kinds <= _RAW_SET:
        return b"[" + b",".join(events) + b"]"
    if not kinds & _RAW_SET and all(map(_finite, events)):
        try:
            return msgspec.json.encode(events)  # one call for the batch: cheaper per event
        except Exception:  # msgspec refuses it: kombu's rules decide
            pass
    return b"[" + b",".join(map(encode_event, events)) + b"]"


def _finite(event: Any) -> bool:
    """False when the event's own fields or its ``routing_decision``'s hold a NaN or infinite
    float (the only places a float means something; elsewhere the workers refuse it anyway)."""
    if not isinstance(event, Mapping):
        return _all_finite((event,))
    decision = event.get("routing_decision")
    return _all_finite(event.values()) and (
        not isinstance(decision, Mapping) or _all_finite(decision.values())
    )


def _all_finite(values: Iterable[Any]) -> bool:
    return not any(isinstance(v, float) and not math.isfinite(v) for v in values)
