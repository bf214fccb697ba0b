"""Where an end-to-end run's CPU goes: µs per corpus line for each process.

``python -m routelearn.benchmarks.cpu_split [--events N] [--runs N]`` publishes the realistic
corpus into one worker (concurrency 2) as ``bench ingest`` does and reads, from ``/proc``, the
CPU time (user + system) each process spent between the start of the publish and the moment
everything was counted: the worker's main process, each pool process, every PostgreSQL process
on the machine (the server is local), and the publisher. On machines that lose a varying share
of their CPU to neighbours, these per-line costs move far less from run to run than the rates
do, so they are what to compare when judging a change (docs/performance.md). Linux only.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from routelearn import harness
from routelearn.benchmarks.corpus import realistic
from routelearn.benchmarks.ingest import COUNTED, CountPoller, publish_file
from routelearn.constants import INGEST_QUEUE
from routelearn.store.engine import libpq_dsn

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def run_once(
    events: int, pg_base: str, broker_base: str, out: Path
) -> tuple[float, dict[str, float]]:
    """One run: (lines/s, {process: CPU µs per line})."""
    corpus = realistic(events, seed=13)
    path = corpus.write(out / "corpus.jsonl")
    with harness.scratch(pg_base, broker_base) as settings:
        dsn = libpq_dsn(settings.database_url)
        with harness.workers(settings, INGEST_QUEUE, 1, 2, out) as procs:
            harness.wait_for_workers(settings, 1)
            tree = harness.process_tree(procs[0].pid)
            main, pool = tree[0], tree[1:]
            watched = [main, *pool, *postgres_pids()]
            before = {pid: cpu_seconds(pid) for pid in watched}
            publisher_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            with CountPoller(dsn, COUNTED) as poller:
                started = time.monotonic()
                publish_file(settings, path, 1000)
                harness.wait_until(lambda: poller.latest() >= corpus.counted, 600, "all counted")
                seconds = poller.reached([corpus.counted])[0] - started
            # Backends the workers opened during the run: all their CPU is the run's.
            watched += [pid for pid in postgres_pids() if pid not in before]
            spent = {pid: cpu_seconds(pid) - before.get(pid, 0.0) for pid in watched}
            publisher_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = len(corpus.lines)
    publisher = (publisher_after.ru_utime + publisher_after.ru_stime) - (
        publisher_before.ru_utime + publisher_before.ru_stime
    )
    per_line = {
        "worker main process": spent[main],
        **{f"pool process {n + 1}": spent[pid] for n, pid in enumerate(pool)},
        "PostgreSQL (all processes)": sum(
            v for pid, v in spent.items() if pid != main and pid not in pool
        ),
        "publisher (routelearn publish)": publisher,
    }
    return lines / seconds, {k: v / lines * 1e6 for k, v in per_line.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--broker", default=harness.DEFAULT_REDIS)
    parser.add_argument("--out", type=Path, default=Path("bench-results/cpu-split"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for n in range(args.runs):
        rate, split = run_once(args.events, args.pg, args.broker, args.out)
        total = sum(split.values())
        print(f"run {n + 1}: {rate:,.0f} lines/s; CPU per line {total:.1f} µs:")
        for name, micros in split.items():
            print(f"  {name:<32} {micros:6.1f} µs")


if __name__ == "__main__":
    main()
