"""``routelearn publish FILE.jsonl``: send recorded routing events to the workers."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any, BinaryIO

import click
from tqdm import tqdm

from routelearn.instance.publisher import EventPublisher
from routelearn.messaging.event_codec import NotJSONError
from routelearn.settings import get_settings

# Lines handed to the publisher at a time (one lock taken for them all).
_CHUNK = 256


def _publish_chunk(publisher: EventPublisher, chunk: list[tuple[int, bytes]]) -> int:
    """Publish numbered lines as they are (checked, never parsed into objects and dumped
    again), waiting for buffer space rather than dropping; returns how many were not JSON."""
    try:
        publisher.publish_many([line for _, line in chunk], block=True)
        return 0
    except NotJSONError:
        pass  # none of the chunk was taken: again line by line, to name each bad one
    skipped = 0
    for number, line in chunk:
        try:
            publisher.publish(line, block=True)
        except NotJSONError as exc:
            skipped += 1
            tqdm.write(f"line {number}: {exc}", file=sys.stderr)
    return skipped


def _report_failure(events: list[Any], exc: BaseException) -> None:
    tqdm.write(f"{len(events)} events could not be sent: {exc}", file=sys.stderr)


@click.command("publish")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Events per message [default: ROUTELEARN_PUBLISH_BATCH_SIZE].",
)
@click.option(
    "--linger-ms",
    type=click.FloatRange(min=0),
    default=None,
    help="Longest wait before a partial batch is sent [default: ROUTELEARN_PUBLISH_LINGER_MS].",
)
@click.option(
    "--send-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds a batch is retried while the broker does not answer.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def publish(
    file: BinaryIO,
    batch_size: int | None,
    linger_ms: float | None,
    send_timeout: float,
    quiet: bool,
) -> None:
    """Send every JSON line of FILE (JSON Lines; - for stdin) as an event, as it is.

    Lines that are not JSON are reported and skipped; the workers validate the events and
    dead-letter the invalid ones. Exits with 1 if any event could not be sent.
    """
    publisher = EventPublisher(
        get_settings(),
        batch_size=batch_size,
        linger_ms=linger_ms,
        send_timeout=send_timeout,
        on_error=_report_failure,
    )
    read = skipped = 0
    started = time.monotonic()
    lines: Iterable[bytes] = file
    with (
        publisher,
        tqdm(file, desc="publish", unit=" lines", file=sys.stderr, disable=quiet) as progress,
    ):
        if not quiet:
            lines = progress
        chunk: list[tuple[int, bytes]] = []
        for read, line in enumerate(lines, 1):
            if line.strip():
                chunk.append((read, line))
            if len(chunk) == _CHUNK:
                skipped += _publish_chunk(publisher, chunk)
                chunk = []
        skipped += _publish_chunk(publisher, chunk)
    stats = publisher.stats
    # An event still pending here is one whose send is stuck past the close timeout.
    failed = stats.failed + stats.pending + stats.dropped
    seconds = time.monotonic() - started
    click.echo(
        f"{read} lines read, {stats.sent} events sent, {skipped} lines skipped (not JSON), "
        f"{failed} events failed; {seconds:.2f} s, {read / max(seconds, 1e-9):,.0f} lines/s"
    )
    if failed:
        raise SystemExit(1)


COMMANDS = [publish]
