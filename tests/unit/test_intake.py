"""Reading an events body: JSON arrays, NDJSON, gzip, and the bounds (pure)."""

from __future__ import annotations

import gzip

import pytest

from routelearn.domain.intake import IntakeError, NotJson, gunzip, parse_events


def test_json_array_and_ndjson() -> None:
    array = parse_events(b'[{"a": 1}, 2]', "application/json; charset=utf-8", 10)
    assert array.payloads == [{"a": 1}, 2] and array.raw is None
    ndjson = parse_events(b'{"a": 1}\n\n{oops\r\n [3]\n', "application/x-ndjson", 10)
    parsed = ndjson.payloads
    assert parsed[0] == {"a": 1} and parsed[2] == [3]
    assert isinstance(parsed[1], NotJson) and parsed[1].line == 3
    assert ndjson.raw == [b'{"a": 1}', None, b" [3]"]  # each payload's line, as sent
    assert [ndjson.to_send(i) for i in (0, 2)] == [b'{"a": 1}', b" [3]"]
    assert array.to_send(0) == {"a": 1}


def test_a_line_only_the_standard_library_reads_is_sent_as_its_value() -> None:
    """A byte-order mark, UTF-16, NaN: json.loads reads them, a worker's stricter reader may
    not, so such a line is passed on as the value it holds, dumped again."""
    bom = b'\xef\xbb\xbf{"a": 1}'
    utf16 = '{"b": 2}'.encode("utf-16")
    events = parse_events(b"\n".join([bom, b'{"c": NaN}', b'{"d": 4}']), "application/x-ndjson", 9)
    assert events.payloads[0] == {"a": 1} and events.payloads[2] == {"d": 4}
    assert events.raw is not None and events.raw[:2] == [None, None]
    assert events.to_send(0) == {"a": 1} and events.to_send(2) == b'{"d": 4}'
    alone = parse_events(utf16, "application/x-ndjson", 9)
    assert alone.payloads == [{"b": 2}] and alone.to_send(0) == {"b": 2}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"[1, 2, 3]", "application/json", 413, "more than 2"),
        (b"1\n2\n3\n", "application/x-ndjson", 413, "more than 2"),
        (b"{}", "application/json", 400, "JSON array"),
        (b"[", "application/json", 400, "not JSON"),
        (b"[]", "text/csv", 415, "text/csv"),
    ],
)
def test_what_is_refused_and_why(body: bytes, content_type: str, status: int, words: str) -> None:
    with pytest.raises(IntakeError) as caught:
        parse_events(body, content_type, 2)
    assert caught.value.status == status and words in str(caught.value)


def test_gunzip_is_bounded() -> None:
    assert gunzip(gzip.compress(b"x" * 100), 100) == b"x" * 100
    with pytest.raises(IntakeError) as caught:
        gunzip(gzip.compress(b"x" * 101), 100)
    assert caught.value.status == 413
    with pytest.raises(IntakeError) as bad:
        gunzip(b"not gzip", 100)
    assert bad.value.status == 400
