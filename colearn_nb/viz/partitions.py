"""Who holds which labels: a learners x labels heatmap of counts or percent, several splits side by side.

Every function takes ``ax=`` (or ``axes=``) to draw into given axes, else makes a new figure; each returns
the figure. Taught in notebook 08.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..protocol.checks import check_choice
from .display import new_figure


def mix_table(counts: np.ndarray, show: str = "percent") -> np.ndarray:
    """``counts`` as they are (``show="counts"``) or as each learner's percent of its data (rows sum to 100).

    >>> mix_table(np.array([[1, 3], [0, 0]])).tolist()
    [[25.0, 75.0], [0.0, 0.0]]
    """
    check_choice("show", show, ("counts", "percent"))
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2:
        raise ValueError(f"counts: got an array of shape {counts.shape}; expected learners x labels (2-D)")
    if show == "counts":
        return counts
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(100 * counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _annotate(ax: Axes, table: np.ndarray, show: str) -> None:
    """Numbers in the cells while they stay readable (at most 20 learners); dark cells get white text."""
    if table.shape[0] > 20:
        return
    top = table.max() or 1.0
    size = 8 if table.shape[0] <= 10 else 6
    for (row, column), value in np.ndenumerate(table):
        if value:
            ax.text(column, row, f"{value:.0f}", ha="center", va="center", fontsize=size,
                    color="white" if value > 0.6 * top else "black")


def plot_label_mix(counts: np.ndarray, show: str = "percent", title: str = "",
                   ax: Axes | None = None) -> Figure:
    """Heatmap of ``counts`` (learners x labels, e.g. ``label_mix(loaders)``), in counts or row percent.

    >>> figure = plot_label_mix(np.array([[5, 0], [1, 4]]), show="counts")
    >>> figure.axes[0].get_ylabel(), len(figure.axes[0].texts)
    ('learner', 3)
    """
    table = mix_table(counts, show)
    ax = ax or new_figure(figsize=(6, 0.3 * table.shape[0] + 1.6), layout="constrained").add_subplot()
    image = ax.imshow(table, aspect="auto", cmap="Blues", interpolation="nearest", vmin=0,
                      vmax=100 if show == "percent" else None)
    _annotate(ax, table, show)
    ax.set_xticks(range(table.shape[1]))
    ax.set_yticks(range(table.shape[0]))
    ax.set_xlabel("label")
    ax.set_ylabel("learner")
    ax.set_title(title or ("% of each learner's data" if show == "percent" else "samples"), fontsize=10)
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="%" if show == "percent" else "samples")
    return ax.figure


def plot_label_mixes(mixes: Mapping[str, np.ndarray], show: str = "percent",
                     axes: Sequence[Axes] | None = None) -> Figure:
    """One ``plot_label_mix`` per named split, side by side (e.g. several values of alpha).

    >>> figure = plot_label_mixes({"a": np.eye(3), "b": np.ones((3, 3))})
    >>> [ax.get_title() for ax in figure.axes if ax.get_label() != "<colorbar>"]
    ['a', 'b']
    """
    if not mixes:
        raise ValueError("mixes: got none; expected at least one name -> counts")
    if axes is None:
        n_rows = max(np.shape(counts)[0] for counts in mixes.values())
        figure = new_figure(figsize=(4.2 * len(mixes), 0.3 * n_rows + 1.6), layout="constrained")
        axes = figure.subplots(1, len(mixes), squeeze=False)[0]
    if len(axes) != len(mixes):
        raise ValueError(f"axes: got {len(axes)}; expected one per split ({len(mixes)})")
    for ax, (name, counts) in zip(axes, mixes.items(), strict=True):
        plot_label_mix(counts, show, title=name, ax=ax)
    return axes[0].figure
