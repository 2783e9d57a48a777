"""What differential privacy buys and costs: attack advantage and accuracy against epsilon (notebook 10)."""
from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..protocol.checks import check_number
from .display import new_figure


def epsilon_label(epsilon: float) -> str:
    """A tick label for a privacy budget: the number, or "no privacy" for ``math.inf``.

    >>> epsilon_label(8.0), epsilon_label(math.inf)
    ('8', 'no privacy')
    """
    return "no privacy" if math.isinf(epsilon) else f"{epsilon:g}"


def _check_curve(epsilons: Sequence[float], accuracies: Sequence[float], advantages: Sequence[float]) -> None:
    if not len(epsilons) == len(accuracies) == len(advantages) or not epsilons:
        raise ValueError(f"epsilons, accuracies, advantages: got {len(epsilons)}, {len(accuracies)} and "
                         f"{len(advantages)} values; expected one of each per run, at least one run")
    if list(epsilons) != sorted(epsilons):
        raise ValueError(f"epsilons: got {list(epsilons)}; expected them from smallest to largest "
                         "(math.inf, no privacy, last)")


def plot_privacy_curve(epsilons: Sequence[float], accuracies: Sequence[float], advantages: Sequence[float],
                       chance: float, ax: Axes | None = None) -> Figure:
    """Accuracy and attack advantage of runs at each epsilon (``math.inf``: no privacy), over the band
    below ``chance``, what a guessing attacker reaches; a new figure unless ``ax``.

    >>> figure = plot_privacy_curve([1.0, 8.0, math.inf], [0.3, 0.4, 0.8], [0.1, 0.1, 0.27], chance=0.13)
    >>> [t.get_text() for t in figure.axes[0].get_xticklabels()]
    ['1', '8', 'no privacy']
    """
    _check_curve(epsilons, accuracies, advantages)
    check_number("chance", chance, 0, 1, hint=" (chance_advantage gives it)")
    ax = ax or new_figure(figsize=(8, 4.2), layout="constrained").add_subplot()
    positions = range(len(epsilons))
    ax.axhspan(0, chance, color="0.85", label=f"a guessing attacker reaches up to {chance:.2f}")
    ax.plot(positions, accuracies, "b-o", linewidth=2.5, label="accuracy of the shared model")
    ax.plot(positions, advantages, "r-s", linewidth=2.5, label="membership attack: advantage")
    for x, accuracy, advantage in zip(positions, accuracies, advantages, strict=True):
        ax.annotate(f"{accuracy:.2f}", (x, accuracy), textcoords="offset points", xytext=(0, 8),
                    ha="center", color="b", fontsize=11)
        ax.annotate(f"{advantage:.2f}", (x, advantage), textcoords="offset points", xytext=(0, 8),
                    ha="center", color="r", fontsize=11)
    ax.set_xticks(list(positions), [epsilon_label(e) for e in epsilons], fontsize=11)
    ax.set_xlabel("epsilon, the privacy budget (smaller: more private)", fontsize=11)
    ax.set_ylabel("accuracy / advantage", fontsize=11)
    ax.set_ylim(0, 1.08)
    ax.set_xlim(-0.4, len(epsilons) - 0.6)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=10)
    return ax.figure
