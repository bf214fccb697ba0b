"""``routelearn config export`` / ``import``: the whole central configuration (models, their
endpoints, routing rules, agent preferences, workspace configs, scores) as one JSON or YAML
document, the same as ``GET /api/config/export`` and ``POST /api/config/import``."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from routelearn.cli.database import database
from routelearn.constants import FAN_OUT_REGISTRY_TASK, FAN_OUT_SCORES_TASK
from routelearn.domain.config_document import ConfigDocument, parse, render
from routelearn.messaging.broker import RETRY_POLICY
from routelearn.messaging.task_message import TaskSender
from routelearn.settings import get_settings
from routelearn.store import config, pgmq
from routelearn.store.config import ImportResult
from routelearn.store.policy import UnknownReferences


@click.group("config")
def config_group() -> None:
    """The central configuration, out and in (docs/routing-policy.md)."""


@config_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")  # fmt: skip
def export_command(fmt: str, out: Path | None) -> None:
    """Print (or write) the configuration: no versions or times, every list in a fixed order."""
    with database() as engine:
        text = render(config.export(engine), fmt)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)


@config_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@click.option(
    "--overwrite-learned",
    is_flag=True,
    help="Also replace scores the learner has changed since (they reflect the fleet's evidence).",
)
def import_command(file: Path, dry_run: bool, overwrite_learned: bool) -> None:
    """Import FILE (an export): validated whole, applied in one transaction or not at all, then
    fanned out to every instance. What FILE does not mention is left as it is."""
    data = parse(file.read_bytes())
    if not isinstance(data, dict) or set(data) != {"config"}:
        raise click.ClickException(f'{file}: must be {{"config": {{...}}}} (an export)')
    try:
        document = ConfigDocument.model_validate(data["config"])
    except ValidationError as exc:
        lines = [
            f"  config.{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r:.80})"
            for e in exc.errors(include_url=False)
        ]
        raise click.ClickException(f"{file}: nothing imported:\n" + "\n".join(lines)) from None
    with database() as engine:
        try:
            result = config.apply(
                engine,
                document,
                dry_run=dry_run,
                overwrite_learned=overwrite_learned,
                with_updates=pgmq.import_sender(get_settings().pgmq_enabled),
            )
        except UnknownReferences as exc:
            raise click.ClickException(f"{file}: nothing imported: {exc}") from None
    _report(result)
    if result.applied and result.changed_anything:
        _fan_out(result)


def _report(result: ImportResult) -> None:
    verb = "imported" if result.applied else "would import (dry run)"
    for name, section in result.sections.items():
        click.echo(
            f"{name}: {len(section.added)} added, {len(section.changed)} changed, "
            f"{len(section.unchanged)} unchanged"
        )
        for item in section.added:
            click.echo(f"  + {item}")
        for item in section.changed:
            click.echo(f"  ~ {item}")
    if result.learned_kept:
        click.echo(
            f"learned scores kept (--overwrite-learned replaces them): {result.learned_kept}"
        )
    click.echo(verb)


def _fan_out(result: ImportResult) -> None:
    sender = TaskSender(get_settings(), RETRY_POLICY)
    try:
        sender.send(FAN_OUT_REGISTRY_TASK, [])  # the registry's and the policy's outboxes
        if result.score_changes:
            sender.send(FAN_OUT_SCORES_TASK, [[c.to_message() for c in result.score_changes]])
    except Exception as exc:
        raise click.ClickException(
            f"the import is stored, but the broker did not take its fan-out ({exc}); the "
            "periodic run sends the registry and policy, instances get scores from their next "
            "snapshot"
        ) from None
    finally:
        sender.close()


COMMANDS = [config_group]
