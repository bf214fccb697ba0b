"""``routelearn simulate SCENARIO``: a simulated fleet through the real pipeline."""

from __future__ import annotations

from pathlib import Path

import click

from routelearn.cli.scratch_options import broker_option, pg_option
from routelearn.simulation.runner import Report, simulate
from routelearn.simulation.scenario import load_scenario


@click.command("simulate")
@click.argument("scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    type=click.Choice(["calibrated", "classic", "both"]),
    default="calibrated",
    show_default=True,
    help="The learner's score policy; 'both' runs the scenario once with each.",
)
@click.option(
    "--explore",
    type=click.Choice(["thompson", "ucb", "uniform"]),
    help="Override the routers' exploration strategy (the scenario's, thompson by default).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a score policy parameter for the run (repeatable), e.g. --param band_z=0.",
)
@click.option("--duration", type=float, help="Override the scenario's duration (seconds).")
@click.option("--rps", type=float, help="Override the requests per second of each instance.")
@click.option("--instances", type=int, help="Override the number of instances.")
@click.option(
    "--out",
    "out_dir",
    default="simulation-results",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the PNG plot, the JSON data and the worker logs go.",
)
@pg_option
@broker_option
def simulate_cmd(
    scenario_path: Path,
    policy: str,
    explore: str | None,
    params: tuple[str, ...],
    duration: float | None,
    rps: float | None,
    instances: int | None,
    out_dir: Path,
    pg_base: str,
    broker_base: str,
) -> None:
    """Run SCENARIO (a YAML file, e.g. scenarios/model-degrades.yaml): N instances route
    synthetic requests through publisher -> workers -> learner -> fan-out -> subscribers against
    simulated models whose truth routelearn never sees. Prints, per learner tick, the routed
    success rate against the oracle's and the mean cost; then how long traffic took to move
    away from a degraded model; writes a PNG of the curves."""
    scenario = load_scenario(scenario_path)
    update: dict[str, object] = {}
    if duration is not None:
        update["duration"] = duration
    if instances is not None:
        update["instances"] = instances
    if rps is not None:
        update["requests_per_second"] = rps
    if explore is not None:
        update["exploration_strategy"] = explore
    if update:
        scenario = scenario.model_validate({**scenario.model_dump(), **update})
    policies = ["calibrated", "classic"] if policy == "both" else [policy]
    reports = [
        simulate(
            scenario,
            p,
            pg_base=pg_base,
            broker_base=broker_base,
            out_dir=out_dir,
            echo=click.echo,
            params=_params(params),
        )
        for p in policies
    ]
    for report in reports:
        _print(report)


def _params(pairs: tuple[str, ...]) -> dict[str, float]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            found[name.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"expected NAME=NUMBER, got {pair!r}", param_hint="--param"
            ) from None
    return found


def _print(report: Report) -> None:
    s = report.summary
    click.echo("")
    click.echo(
        f"== {report.scenario}, policy {report.policy}, exploration {report.strategy}: "
        f"{s.requests} requests"
    )
    click.echo(
        f"routed success {s.success_rate:.4f} observed, {s.expected_rate:.4f} true; "
        f"oracle {s.oracle_rate:.4f}; relative to the oracle {s.relative_to_oracle:.2%}"
    )
    click.echo(
        f"mean cost ${s.mean_cost * 1000:.3f} per 1,000 requests; "
        f"explored {s.exploratory_share:.1%}"
    )
    for m in report.moves:
        verb = "moved away from" if m.kind == "away" else "moved to"
        if not m.led:
            click.echo(
                f"{m.label} at {m.at:g}s: {m.model}/{m.complexity} did not lead just before "
                "(the learner had already moved its traffic)"
            )
        elif m.seconds is None:
            click.echo(f"{m.label} at {m.at:g}s: traffic never {verb} {m.model}/{m.complexity}")
        else:
            click.echo(
                f"{m.label} at {m.at:g}s: traffic {verb} {m.model}/{m.complexity} in "
                f"{m.seconds:.0f} s ({m.ticks:.1f} learner ticks)"
            )
    click.echo(f"plot: {report.plot}  data: {report.data}")


COMMANDS = [simulate_cmd]
