"""The simulator's curves as a PNG (matplotlib, Agg backend: no screen needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from routelearn.simulation.metrics import Point


def write_plot(
    path: Path,
    title: str,
    points: Sequence[Point],
    events: Sequence[tuple[float, str]],
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [p.start for p in points]
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    top.plot(t, [p.oracle_rate for p in points], "k--", label="oracle (knows the truth)")
    top.plot(t, [p.expected_rate for p in points], "C0-", label="routed (true success of choice)")
    top.plot(t, [p.success_rate for p in points], "C0:", alpha=0.6, label="routed (observed)")
    top.set_ylabel("success rate")
    top.legend(loc="lower left", fontsize=8)
    names = sorted({name for p in points for name in p.share})
    for n, name in enumerate(names):
        middle.plot(t, [p.share.get(name) for p in points], f"C{n + 1}-", label=name)
    middle.set_ylabel("share of its complexity")
    middle.set_ylim(-0.02, 1.02)
    if names:
        middle.legend(loc="center left", fontsize=8)
    bottom.plot(t, [p.mean_cost * 1000 for p in points], "C2-")
    bottom.set_ylabel("mean cost (USD / 1,000 req.)")
    bottom.set_xlabel("seconds")
    for axis in (top, middle, bottom):
        for at, label in events:
            axis.axvline(at, color="red", alpha=0.4)
            if axis is top:
                axis.annotate(label, (at, axis.get_ylim()[0]), fontsize=8, color="red")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
