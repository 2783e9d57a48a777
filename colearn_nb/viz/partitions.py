"""Who holds which labels: a learners x labels heatmap of counts or percent, several splits side by side.

Every function takes ``ax=`` (or ``axes=``) to draw into given axes, else makes a new figure; each returns
the figure. Taught in notebook 08.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

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


MAX_HEIGHT = 5.5  # inches: a heatmap of many learners still fits a laptop's notebook area


def text_colour(background: tuple) -> str:
    """Black or white, whichever contrasts more with ``background`` (WCAG relative luminance).

    >>> text_colour((1.0, 1.0, 1.0, 1.0)), text_colour((0.03, 0.19, 0.42, 1.0))
    ('black', 'white')
    """
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in background[:3]]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "white" if luminance < 0.179 else "black"  # 0.179: where both contrast equally


def _annotate(ax: Axes, table: np.ndarray, image: AxesImage) -> None:
    """Numbers in the cells while they stay readable (at most 20 learners), in a colour that stands out."""
    if table.shape[0] > 20:
        return
    size = 8 if table.shape[0] <= 10 else 6.5
    for (row, column), value in np.ndenumerate(table):
        if value:
            ax.text(column, row, f"{value:.0f}", ha="center", va="center", fontsize=size,
                    color=text_colour(image.cmap(image.norm(value))))


def heatmap_height(n_rows: int) -> float:
    """Figure height in inches for ``n_rows`` learners: 0.3 a row, at most ``MAX_HEIGHT``.

    >>> heatmap_height(5), heatmap_height(20)
    (3.1, 5.5)
    """
    return round(min(0.3 * n_rows + 1.6, MAX_HEIGHT), 2)


def plot_label_mix(counts: np.ndarray, show: str = "percent", title: str = "",
                   ax: Axes | None = None, colorbar: bool = True) -> Figure:
    """Heatmap of ``counts`` (learners x labels, e.g. ``label_mix(loaders)``), in counts or row percent.

    >>> figure = plot_label_mix(np.array([[5, 0], [1, 4]]), show="counts")
    >>> figure.axes[0].get_ylabel(), len(figure.axes[0].texts)
    ('learner', 3)
    """
    table = mix_table(counts, show)
    ax = ax or new_figure(figsize=(6, heatmap_height(table.shape[0])), layout="constrained").add_subplot()
    image = ax.imshow(table, aspect="auto", cmap="Blues", interpolation="nearest", vmin=0,
                      vmax=100 if show == "percent" else None)
    _annotate(ax, table, image)
    ax.set_xticks(range(table.shape[1]))
    ax.set_yticks(range(table.shape[0]))
    ax.set_xlabel("label")
    ax.set_ylabel("learner")
    ax.set_title(title or ("% of each learner's data" if show == "percent" else "samples"), fontsize=10)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.8, label="%" if show == "percent" else "samples")
    return ax.figure


def plot_label_mixes(mixes: Mapping[str, np.ndarray], show: str = "percent",
                     axes: Sequence[Axes] | None = None) -> Figure:
    """One ``plot_label_mix`` per named split, side by side (e.g. several values of alpha).

    In percent every panel shares one colour scale, so one colour bar serves them all and the panels get
    the width; in counts each panel has its own.

    >>> figure = plot_label_mixes({"a": np.eye(3), "b": np.ones((3, 3))})
    >>> [ax.get_title() for ax in figure.axes if ax.get_label() != "<colorbar>"]
    ['a', 'b']
    """
    if not mixes:
        raise ValueError("mixes: got none; expected at least one name -> counts")
    if axes is None:
        n_rows = max(np.shape(counts)[0] for counts in mixes.values())
        width = min(4.2 * len(mixes), 9.5)  # no wider than a laptop's notebook area
        figure = new_figure(figsize=(width, heatmap_height(n_rows)), layout="constrained")
        axes = figure.subplots(1, len(mixes), squeeze=False)[0]
    if len(axes) != len(mixes):
        raise ValueError(f"axes: got {len(axes)}; expected one per split ({len(mixes)})")
    shared = show == "percent"
    for ax, (name, counts) in zip(axes, mixes.items(), strict=True):
        plot_label_mix(counts, show, title=name, ax=ax, colorbar=not shared)
    if shared:
        axes[0].figure.colorbar(axes[-1].images[0], ax=list(axes), shrink=0.8, label="%")
    return axes[0].figure
