"""The workers read JSON task messages with msgspec instead of the standard library.

Celery decodes a message through kombu's serializer registry; kombu's JSON decoder is the
standard library's with an object hook called for every object, most of a batch's decoding
cost (docs/performance.md). msgspec builds the same values several times faster. It is
registered under kombu's own name, ``json``, so nothing else changes; kombu's decoder still
reads what msgspec does not take exactly as kombu would: a body with kombu's typed values
(``{"__type__": ..., "__value__": ...}``, which its object hook turns back into datetimes and
the like) and JSON that only the standard library accepts (``NaN``, ``Infinity``).
"""

from __future__ import annotations

from typing import Any

from kombu.serialization import registry
from kombu.utils.json import dumps as kombu_dumps
from kombu.utils.json import loads as kombu_loads

from routelearn.domain import json_decode


def loads(data: str | bytes | bytearray | memoryview) -> Any:
    if isinstance(data, memoryview | bytearray):
        data = bytes(data)
    typed = "__type__" in data if isinstance(data, str) else b"__type__" in data
    if typed:
        return kombu_loads(data)
    return json_decode.loads(data, fallback=kombu_loads)


def install() -> None:
    """Make ``json`` messages decode with ``loads`` in this process (encoding is kombu's)."""
    registry.register(
        "json", kombu_dumps, loads, content_type="application/json", content_encoding="utf-8"
    )
