"""Who gains and who loses by sharing: each learner's shared-model score minus its score alone (notebook 15).

Takes ``ax=`` to draw into given axes, else makes a new figure; returns the figure.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..tutorial.gains import LearnerGains
from .display import new_figure

COLOURS = {"voting": "tab:blue", "FedAvg": "tab:orange", "FedProx": "tab:green"}


def _runs(gains: LearnerGains | Sequence[LearnerGains]) -> list[LearnerGains]:
    """One run or several (seeds) as a list; refuse runs of different learners or approaches."""
    runs = [gains] if isinstance(gains, LearnerGains) else list(gains)
    if not runs or not all(isinstance(run, LearnerGains) for run in runs):
        raise ValueError(f"gains: got {gains!r}; expected a LearnerGains (compare_gains gives one) or a list "
                         "of them, one per seed")
    if len({(len(run.alone), tuple(run.shared)) for run in runs}) > 1:
        raise ValueError("gains: the runs differ in learners or approaches; expected runs of one setup")
    return runs


def gain_table(gains: LearnerGains | Sequence[LearnerGains]) -> dict[str, np.ndarray]:
    """Per approach, an array of gains: one row per run (seed), one column per learner.

    >>> gain_table(LearnerGains({"voting": [0.5, 0.25]}, [0.25, 0.5]))["voting"].tolist()
    [[0.25, -0.25]]
    """
    runs = _runs(gains)
    return {name: np.array([run.gains()[name] for run in runs]) for name in runs[0].shared}


def plot_learner_gains(gains: LearnerGains | Sequence[LearnerGains], ax: Axes | None = None,
                       title: str | None = None) -> Figure:
    """Bars per learner and approach: shared-model test score minus the score alone (above 0: it gains).

    With several runs (seeds) each bar is their mean and the whisker their range.

    >>> figure = plot_learner_gains(LearnerGains({"voting": [0.9, 0.5], "FedAvg": [0.8, 0.7]}, [0.7, 0.8]))
    >>> [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    ['voting', 'FedAvg']
    """
    table = gain_table(gains)
    ax = ax or new_figure(figsize=(9, 3.8), layout="constrained").add_subplot()
    n_learners = next(iter(table.values())).shape[1]
    width = 0.8 / len(table)
    for k, (name, rows) in enumerate(table.items()):
        means = rows.mean(axis=0)
        spread = np.stack([means - rows.min(axis=0), rows.max(axis=0) - means]) if len(rows) > 1 else None
        ax.bar(np.arange(n_learners) + (k - (len(table) - 1) / 2) * width, means, width, yerr=spread,
               capsize=2, label=name, color=COLOURS.get(name))
    ax.axhline(0, color="black", linewidth=1)
    ax.set_xticks(range(n_learners))
    ax.set_xlabel("learner")
    ax.set_ylabel("gain: shared - alone")
    ax.grid(axis="y", alpha=0.3)
    if title is not None:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=9)
    return ax.figure  # type: ignore[return-value]  # as every plot here: the axes of a Figure
