"""Compare runs on one plot: mean test score against the training done so far."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Tuple

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .plot import new_figure

Curve = Tuple[Sequence[float], Sequence[float]]


def plot_curves(curves: Mapping[str, Curve], xlabel: str = "training epochs, all learners together",
                score_name: str = "score", ax: Optional[Axes] = None) -> Figure:
    """One line per named ``(x, scores)`` curve, so runs with different budgets share an x axis.

    >>> fig = plot_curves({"a": ([0, 1], [0.1, 0.5])}, score_name="accuracy")
    >>> fig.axes[0].get_ylabel(), [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ('mean test accuracy', ['a'])
    """
    if not curves:
        raise ValueError("curves: got an empty mapping; expected at least one {name: (x, scores)}")
    ax = ax or new_figure(figsize=(8, 4), layout="constrained").add_subplot()
    for name, (x, scores) in curves.items():
        if len(x) != len(scores):
            raise ValueError(f"curves[{name!r}]: got {len(x)} x values but {len(scores)} scores; "
                             "they must have the same length")
        ax.plot(x, scores, marker="o", markersize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"mean test {score_name}")
    ax.legend(loc="lower right")
    return ax.figure
