"""PostgreSQL's binary formats for what the learner moves in bulk: histograms and COPY.

A learner tick reads and writes thousands of 122-bucket histograms. Through psycopg's adapters
each bucket is a Python object on the way in and on the way out (its list dumper is pure
Python; README, "Benchmark"); here whole matrices go to and from numpy in one step: arrays
read through ``array_send``, vectors kept as raw bytes (bytea), rows written as one binary COPY
stream. Formats: https://www.postgresql.org/docs/current/sql-copy.html (binary format) and
PostgreSQL's array_send (src/backend/utils/adt/arrayfuncs.c).

numpy is imported inside the functions: ingestion workers import this package and never load it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    Matrix = np.ndarray[Any, Any]

INT8 = ">i8"
FLOAT8 = ">f8"

_ELEMENT_OIDS = {INT8: 20, FLOAT8: 701}  # pg_type oids of bigint and double precision
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # then flags, extension length
_TRAILER = struct.pack("!h", -1)
_SHORT = struct.Struct("!h")
_LENGTH = struct.Struct("!i")
_NULL = _LENGTH.pack(-1)
_INT8 = struct.Struct("!q")
_FLOAT8 = struct.Struct("!d")
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@cache
def _array_dtype(element: str, length: int) -> np.dtype[np.void]:
    """A one-dimensional array of ``length`` 8-byte elements without NULLs: a 20-byte header
    (ndim, has-null flag, element type, length, lower bound), then per element its length
    (4 bytes) and its big-endian value."""
    import numpy as np

    return np.dtype(
        [("header", "V20"), ("items", [("length", ">i4"), ("value", element)], (length,))]
    )


def read_arrays(
    sent: Sequence[bytes | None], element: str, length: int, names: Sequence[str]
) -> Matrix:
    """The (rows x length) matrix of arrays read in binary (or through ``array_send``), as
    int64 or float64; a NULL reads as zeros. ``names`` name the rows in an error."""
    import numpy as np

    dtype = _array_dtype(element, length)
    for name, value in zip(names, sent, strict=True):
        if value is not None and len(value) != dtype.itemsize:
            raise ValueError(
                f"{name}: an array of {len(value)} bytes is not {length} {element} elements "
                "without NULLs"
            )
    header = _array_header(element, length)
    blank = bytes(dtype.itemsize)
    parsed = np.frombuffer(b"".join(blank if v is None else v for v in sent), dtype=dtype)
    # Same size is not same shape: a float8[] or a two-dimensional array would fit too.
    wrong = (parsed["header"] != np.void(header)) | (parsed["items"]["length"] != 8).any(axis=1)
    wrong &= np.array([v is not None for v in sent], dtype=bool)
    if wrong.any():
        raise ValueError(
            f"{names[int(np.flatnonzero(wrong)[0])]}: not a one-dimensional array of {length} "
            f"{element} elements from 1"
        )
    values = parsed["items"]["value"]
    return values.astype(np.int64 if element == INT8 else np.float64).reshape(-1, length)


def _array_header(element: str, length: int) -> bytes:
    """ndim 1, no NULLs, the element type's oid, ``length`` elements, lower bound 1."""
    return struct.pack("!iiiii", 1, 0, _ELEMENT_OIDS[element], length, 1)


def read_vectors(
    raw: Sequence[bytes | None], dtype: str, length: int, names: Sequence[str]
) -> Matrix:
    """The (rows x length) matrix of vectors stored as raw bytes (bytea) of ``length`` values
    of ``dtype`` ("<i8" or "<f8"); a NULL reads as zeros. ``names`` name the rows in an error."""
    import numpy as np

    size = np.dtype(dtype).itemsize * length
    for name, value in zip(names, raw, strict=True):
        if value is not None and len(value) != size:
            raise ValueError(f"{name}: a vector of {len(value)} bytes is not {length} x {dtype}")
    blank = bytes(size)
    joined = b"".join(blank if value is None else value for value in raw)
    native = np.dtype(dtype).newbyteorder("=")
    return np.frombuffer(joined, dtype=dtype).astype(native).reshape(-1, length)


def vector_fields(matrix: Matrix, dtype: str) -> list[bytes]:
    """Each row of ``matrix`` as raw bytes of ``dtype`` (for a bytea field)."""
    data = matrix.astype(dtype).tobytes()
    size = len(data) // len(matrix) if len(matrix) else 0
    return [data[i : i + size] for i in range(0, len(data), size)] if size else []


def text(value: str, encoding: str = "utf-8") -> bytes:
    """A text field, in the connection's client encoding (psycopg: ``conn.info.encoding``)."""
    return value.encode(encoding)


def int8(value: int) -> bytes:
    return _INT8.pack(value)


def float8(value: float) -> bytes:
    return _FLOAT8.pack(value)


def timestamptz(value: datetime) -> bytes:
    """Microseconds since 2000-01-01 UTC (integer datetimes, PostgreSQL's only kind since 10)."""
    return _INT8.pack((value - _PG_EPOCH) // timedelta(microseconds=1))


def copy_stream(rows: Iterable[Sequence[bytes | None]]) -> bytes:
    """A whole ``COPY ... FROM STDIN (FORMAT BINARY)`` stream of rows of encoded fields."""
    out = [_SIGNATURE]
    for row in rows:
        out.append(_SHORT.pack(len(row)))
        for field in row:
            if field is None:
                out.append(_NULL)
            else:
                out.append(_LENGTH.pack(len(field)))
                out.append(field)
    out.append(_TRAILER)
    return b"".join(out)
