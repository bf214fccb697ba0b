"""The learner's binary formats against a real PostgreSQL: what it writes reads back as sent."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import Engine

from routelearn.store import pgbinary

pytestmark = pytest.mark.integration


def test_a_copy_stream_and_its_vectors_read_back_as_sent(engine: Engine) -> None:
    when = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)
    counts = np.array([[1, 2**40, 0], [7, 0, 3]], dtype=np.int64)
    weights = np.array([[0.5, 1e-300, 3.25], [0.0, 2.0, 1e12]])
    names = ["gpt-4o/complex", "modèle-ü/simple"]  # text goes as UTF-8
    rows = zip(
        names,
        pgbinary.vector_fields(counts, "<i8"),
        pgbinary.vector_fields(weights, "<f8"),
        strict=True,
    )
    stream = pgbinary.copy_stream(
        (
            pgbinary.text(name),
            pgbinary.timestamptz(when),
            pgbinary.int8(-5 if i else 2**62),
            pgbinary.float8(0.1 * i),
            None if i else c,
            w,
        )
        for i, (name, c, w) in enumerate(rows)
    )
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE t (name text, at timestamptz, n bigint, x float8,"
                " c bytea, w bytea)"
            )
            with cursor.copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(stream)
            cursor.execute("SELECT name, at, n, x, c IS NULL FROM t ORDER BY x")
            assert cursor.fetchall() == [
                (names[0], when, 2**62, 0.0, False),
                (names[1], when, -5, 0.1, True),
            ]
        with raw.cursor(binary=True) as cursor:
            cursor.execute("SELECT c, w FROM t ORDER BY x")
            c_raw, w_raw = zip(*cursor.fetchall(), strict=True)
    read_c = pgbinary.read_vectors(c_raw, "<i8", 3, names)
    assert read_c.tolist() == [counts[0].tolist(), [0, 0, 0]]  # NULL reads as zeros
    assert pgbinary.read_vectors(w_raw, "<f8", 3, names).tolist() == weights.tolist()
    with pytest.raises(ValueError, match=r"gpt-4o/complex: a vector of 24 bytes is not 4 x <f8"):
        pgbinary.read_vectors(w_raw, "<f8", 4, names)


def test_arrays_read_through_array_send(engine: Engine) -> None:
    names = ["a", "b", "c"]
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor(binary=True) as cursor:
            cursor.execute(
                "SELECT array_send(h) FROM (VALUES (1, ARRAY[1, 2, 3]::bigint[]),"
                " (2, NULL), (3, ARRAY[-4, 0, 2^50]::bigint[])) AS v(i, h) ORDER BY i"
            )
            sent = [row[0] for row in cursor.fetchall()]
            read = pgbinary.read_arrays(sent, pgbinary.INT8, 3, names)
            assert read.tolist() == [[1, 2, 3], [0, 0, 0], [-4, 0, 2**50]]
            cursor.execute("SELECT array_send(ARRAY[1.5, -2.25]::float8[])")
            floats = pgbinary.read_arrays([cursor.fetchone()[0]], pgbinary.FLOAT8, 2, ["f"])
            assert floats.tolist() == [[1.5, -2.25]]
            cursor.execute("SELECT array_send(ARRAY[1.5, -2.25]::float8[])")
            with pytest.raises(ValueError, match="f: not a one-dimensional array of 2 >i8"):
                pgbinary.read_arrays([cursor.fetchone()[0]], pgbinary.INT8, 2, ["f"])
            cursor.execute("SELECT array_send(ARRAY[1, NULL, 3]::bigint[])")
            with pytest.raises(ValueError, match=r"x: an array of \d+ bytes is not 3"):
                pgbinary.read_arrays([cursor.fetchone()[0]], pgbinary.INT8, 3, ["x"])
