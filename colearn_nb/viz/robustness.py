"""The robustness lab's table as a picture: a row per approach, a column per attack and attacker fraction.

Takes ``ax=`` to draw into given axes, else makes a new figure; returns the figure. Taught in notebook 14.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .display import new_figure

if TYPE_CHECKING:
    from ..tutorial.robustness import RobustnessLab

SCORES = {"accuracy": ("final test accuracy", "RdYlGn"),
          "asr": ("backdoor's success\n(triggered digits read as 0)", "RdYlGn_r")}
SHORT = {"garbage": "garbage", "sign flip": "sign\nflip", "label flip": "label\nflip",
         "backdoor": "back-\ndoor", "colluding ring": "ring"}


def _column_label(attack: str, fraction: float) -> str:
    """The attack's short name over the attacker fraction."""
    return "no\nattack" if fraction == 0 else f"{SHORT.get(attack, attack)}\n{fraction:.2f}"


def plot_robustness(lab: RobustnessLab, score: str = "accuracy", ax: Axes | None = None) -> Figure:
    """``lab``'s ``score`` ("accuracy" or "asr") as a coloured table with its numbers; a new figure unless
    ``ax``."""
    title, colours = SCORES[score] if score in SCORES else (score, "")
    values, columns = np.array(lab.values(score)), lab.columns(score)  # checks score
    ax = ax or new_figure(figsize=(10, 4.6), layout="constrained").add_subplot()
    ax.imshow(values, cmap=colours, vmin=0, vmax=1, aspect="auto")
    for (row, column), value in np.ndenumerate(values):
        dark = value < 0.15 or value > 0.85  # the colour maps' dark ends: white text
        ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=10,
                color="white" if dark else "black")
    ax.set_xticks(range(len(columns)), [_column_label(a, f) for a, f in columns], fontsize=10)
    ax.set_yticks(range(len(values)), lab.settings.approaches(), fontsize=10)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False, length=0)
    ax.set_title(title, fontsize=11)
    return cast(Figure, ax.figure)  # typed Figure | SubFigure; here a Figure
