"""``routelearn dead-letters``: inspect, fix, replay and delete payloads that failed ingestion."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from routelearn.cli.database import database
from routelearn.stats.table import print_table
from routelearn.store import dead_letters as store
from routelearn.store.engine import is_transient

_REASON_WIDTH = 80
_LIST_INVALID = 10  # still-invalid dead letters a replay report names with their reason


@contextmanager
def _engine() -> Iterator[Engine]:
    with database() as engine:
        try:
            yield engine
        except DBAPIError as exc:
            if not is_transient(exc):
                raise
            # Not a traceback: the operator needs to know the database is down or not migrated.
            line = str(exc.orig or exc).splitlines()[0]
            raise click.ClickException(
                f"database unavailable ({line}); check it with: routelearn doctor"
            ) from exc


def _not_found(dead_letter_id: int) -> click.ClickException:
    return click.ClickException(f"dead letter {dead_letter_id} does not exist")


def _require(engine: Engine, ids: Sequence[int]) -> None:
    missing = sorted(set(ids) - store.existing_ids(engine, ids))
    if len(missing) == 1:
        raise _not_found(missing[0])
    if missing:
        raise click.ClickException(f"dead letters {', '.join(map(str, missing))} do not exist")


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _shorten(text: str, width: int) -> str:
    text = re.sub(r"\s+", " ", text)  # one table row per dead letter
    return text if len(text) <= width else text[: width - 3] + "..."


def _payload_value(letter: store.DeadLetter) -> Any:
    try:
        return letter.payload_value()
    except (ValueError, RecursionError):
        return letter.payload  # not JSON (edited outside routelearn): shown as the text it is


@click.group("dead-letters")
def dead_letters_group() -> None:
    """Payloads that failed validation: inspect, fix, replay, delete."""


@dead_letters_group.command("list")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=0),
    help="At most this many, newest first; 0 for all.",
)
@click.option("--reason", help="Only those whose reason contains this text (any case).")
@click.option("--source", help="Only those from this source (task name).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per line (id, payload, reason, errors, source, received_at).",
)
def list_command(limit: int, reason: str | None, source: str | None, as_json: bool) -> None:
    """List dead letters, newest first."""
    with _engine() as engine:
        letters = store.list_dead_letters(
            engine, limit=limit or None, reason_like=reason, source=source
        )
    if as_json:
        for letter in letters:
            click.echo(
                store.json_text(
                    {
                        "id": letter.id,
                        "payload": _payload_value(letter),
                        "reason": letter.reason,
                        "errors": [
                            {"field": e.field, "value": e.value, "message": e.message}
                            for e in letter.errors
                        ],
                        "source": letter.source,
                        "received_at": letter.received_at.astimezone(UTC).isoformat(),
                    }
                )
            )
        return
    print_table(
        ["id", "received at", "source", "reason"],
        [
            [d.id, _when(d.received_at), d.source, _shorten(d.reason, _REASON_WIDTH)]
            for d in letters
        ],
    )
    if limit and len(letters) == limit:
        click.echo(f"(newest {limit} shown; there may be more: --limit N, or 0 for all)")


@dead_letters_group.command("show")
@click.argument("dead_letter_id", metavar="ID", type=int)
@click.option(
    "--payload",
    "payload_only",
    is_flag=True,
    help="Print only the payload JSON (to edit it and pass it to `edit`).",
)
def show(dead_letter_id: int, payload_only: bool) -> None:
    """Show one dead letter: its payload and each field error."""
    with _engine() as engine:
        letter = store.get(engine, dead_letter_id)
    if letter is None:
        raise _not_found(dead_letter_id)
    payload = store.json_text(_payload_value(letter), indent=2)
    if payload_only:
        click.echo(payload)
        return
    click.echo(f"id:          {letter.id}")
    click.echo(f"received at: {_when(letter.received_at)}")
    click.echo(f"source:      {letter.source}")
    click.echo("errors:")
    for error in letter.errors:
        click.echo(f"  {error.field} = {error.value}: {error.message}")
    click.echo("payload:")
    click.echo(payload)


@dead_letters_group.command("edit")
@click.argument("dead_letter_id", metavar="ID", type=int)
@click.argument("file", type=click.File("r", encoding="utf-8"))
def edit(dead_letter_id: int, file: IO[str]) -> None:
    """Replace a dead letter's payload with the JSON in FILE ('-' for stdin)."""
    try:
        payload = json.load(file)
    except (ValueError, RecursionError) as exc:
        raise click.ClickException(f"{file.name} is not valid JSON: {exc}") from None
    with _engine() as engine:
        if not store.replace_payload(engine, dead_letter_id, payload):
            raise _not_found(dead_letter_id)
    click.echo(
        f"payload of dead letter {dead_letter_id} replaced; "
        f"validate and ingest it with: routelearn dead-letters replay {dead_letter_id}"
    )


@dead_letters_group.command("replay")
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
def replay(ids: tuple[int, ...], replay_all: bool) -> None:
    """Re-validate dead letters with the current code and ingest those now valid."""
    if bool(ids) == replay_all:
        raise click.UsageError("give dead letter ids or --all (not both)")
    with _engine() as engine:
        if ids:
            _require(engine, ids)
        report = store.replay(engine, None if replay_all else list(ids))
        invalid = [store.get(engine, i) for i in report.still_invalid_ids[:_LIST_INVALID]]
    click.echo(f"selected:      {report.selected}")
    click.echo(f"ingested:      {report.ingested}")
    click.echo(f"duplicates:    {report.duplicates}  (valid, already ingested)")
    click.echo(f"still invalid: {report.still_invalid}")
    for letter in invalid:
        if letter is not None:
            click.echo(f"  {letter.id}: {_shorten(letter.reason, _REASON_WIDTH)}")
    if report.still_invalid > _LIST_INVALID:
        click.echo(
            f"  ... and {report.still_invalid - _LIST_INVALID} more (routelearn dead-letters list)"
        )
    if report.missing:
        click.echo(f"gone meanwhile: {', '.join(map(str, report.missing))}")


@dead_letters_group.command("delete")
@click.argument("ids", metavar="ID...", nargs=-1, required=True, type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(ids: tuple[int, ...], yes: bool) -> None:
    """Delete dead letters for good."""
    with _engine() as engine:
        _require(engine, ids)
        if not yes:
            click.confirm(f"delete {len(set(ids))} dead letter(s)?", abort=True)
        deleted = store.delete(engine, ids)
    click.echo(f"deleted {len(deleted)} dead letter(s)")


@dead_letters_group.command("purge")
@click.option(
    "--older-than",
    "days",
    required=True,
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Delete those received more than DAYS ago (0: all).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(days: float, yes: bool) -> None:
    """Delete dead letters received more than DAYS ago."""
    older_than = timedelta(days=days)
    with _engine() as engine:
        if not yes:
            pending = store.count(engine, older_than)
            if not pending:
                click.echo("no dead letters that old")
                return
            click.confirm(
                f"delete {pending} dead letter(s) received more than {days:g} days ago?", abort=True
            )
        deleted = store.purge(engine, older_than)
    click.echo(f"purged {deleted} dead letter(s)")


COMMANDS = [dead_letters_group]
