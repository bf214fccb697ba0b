"""Reading a body of events off the network: a JSON array or NDJSON, bounded.

Pure: bytes in, payloads (or the reason there are none) out. Each payload is then validated by
``validation.validate_event``, the worker path's own rule; a line that is not JSON becomes a
rejection of its own, so one bad line loses nothing else.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from routelearn.domain.json_decode import loads, loads_noting
from routelearn.errors import RouteLearnError

JSON = "application/json"
NDJSON = "application/x-ndjson"


class IntakeError(RouteLearnError):
    """The body as a whole cannot be read; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class NotJson:
    """A line of an NDJSON body that did not parse: rejected on its own."""

    line: int
    error: str


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body, refusing (413) to grow past ``limit`` bytes: a small body must
    not become a large one in memory."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise IntakeError(400, f"body: not valid gzip ({exc})") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise IntakeError(413, f"body: more than {limit} bytes once decompressed")
    return out


@dataclass(frozen=True, slots=True)
class Events:
    """A body's payloads, and for NDJSON each one's line as sent, where it may be passed on as
    those bytes instead of dumped again: None for a line only the standard library read (a
    byte-order mark, UTF-16, ``NaN``...), which a worker's stricter reader could refuse, and
    for every event of a JSON array (``raw`` None)."""

    payloads: list[Any | NotJson]
    raw: list[bytes | None] | None = None

    def to_send(self, index: int) -> Any:
        """What a worker is sent for payload ``index``: its line, else the payload."""
        line = None if self.raw is None else self.raw[index]
        return self.payloads[index] if line is None else line


def parse_events(body: bytes, content_type: str, max_events: int) -> Events:
    """The payloads of a body: a JSON array (``application/json``) or one JSON value per line
    (``application/x-ndjson``; blank lines skipped)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == NDJSON:
        payloads: list[Any | NotJson] = []
        raw: list[bytes | None] = []
        for number, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                payload, exact = loads_noting(line)
            except ValueError as exc:
                payload, exact = NotJson(number, str(exc)), False
            payloads.append(payload)
            raw.append(line if exact else None)
            if len(payloads) > max_events:
                raise IntakeError(413, f"body: more than {max_events} events")
        return Events(payloads, raw)
    if media != JSON:
        raise IntakeError(415, f"Content-Type: {content_type!r} is neither {JSON} nor {NDJSON}")
    try:
        data = loads(body)
    except ValueError as exc:
        raise IntakeError(400, f"body: not JSON ({exc})") from None
    if not isinstance(data, list):
        raise IntakeError(400, f"body: expected a JSON array of events, got {type(data).__name__}")
    if len(data) > max_events:
        raise IntakeError(413, f"body: {len(data)} events, more than {max_events}")
    return Events(data)
