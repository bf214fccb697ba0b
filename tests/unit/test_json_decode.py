"""``json_decode.loads`` gives what ``json.loads`` gives: the same values, the same errors."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routelearn.domain.json_decode import loads

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0 here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@given(_values, st.booleans())
def test_any_json_value_decodes_as_the_standard_library_does(value: Any, ascii: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii)
    for data in (text, text.encode()):
        assert _same(loads(data), json.loads(data))


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": NaN, "b": -Infinity}',
        b"1e400",
        b'"\\ud800"',
        b'\xef\xbb\xbf{"bom": 1}',
        '{"utf16": 1}'.encode("utf-16"),
        b'{"a": 1, "a": 2}',
        b"123456789012345678901234567890",
    ],
)
def test_what_msgspec_refuses_is_read_as_before(data: bytes) -> None:
    assert _same(loads(data), json.loads(data))


@pytest.mark.parametrize("data", [b"", b"{", b"[1,]", b"\xff\xfe\xfd", b"1 2", b"nul"])
def test_bad_json_fails_with_the_standard_librarys_error(data: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        loads(data)
    with pytest.raises(ValueError) as theirs:
        json.loads(data)
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)
