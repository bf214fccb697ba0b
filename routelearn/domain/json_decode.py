"""JSON text to Python values: the standard library's values at msgspec's speed.

msgspec builds the same values several times faster than ``json.loads``; what it refuses
(``NaN`` and ``Infinity``, numbers out of a float's range, lone surrogates, a byte-order mark,
UTF-16 and UTF-32) the standard library reads as it always did, and its error is the error.
So a caller sees exactly what ``json.loads`` gives (tests/unit/test_json_decode.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode


def loads(data: bytes | str, fallback: Callable[[Any], Any] = json.loads) -> Any:
    """``json.loads(data)``, faster; raises what it raises (a ``ValueError``). ``fallback``
    reads what msgspec refuses, ``json.loads`` unless the caller reads JSON another way."""
    try:
        return _decode(data)
    except msgspec.DecodeError:
        return fallback(data)


def loads_noting(data: bytes | str) -> tuple[Any, bool]:
    """``loads(data)`` and whether msgspec read it: True means ``data`` is JSON exactly as
    strict readers take it (UTF-8, no byte-order mark, finite numbers), so it may be passed on
    as it is; False, the standard library read what msgspec refused."""
    try:
        return _decode(data), True
    except msgspec.DecodeError:
        return json.loads(data), False
