"""A small figure of one collective-learning round in four steps.

Taught in notebook 00.
"""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .plots import new_figure

ROUND_STEPS = (
    ("1. Propose", "learner r % n trains\nfrom its current weights;\nits own weights stay"),
    ("2. Test", "every learner scores\nthe proposal on its\nprivate vote set"),
    ("3. Vote", "yes if strictly better\nthan its current score;\nthe proposer abstains"),
    ("4. Accept", "yes votes >= (n - 1) x\nthreshold: all load it;\notherwise nobody does"),
)
STEP_COLOURS = ("#cfe2ff", "#fff3cd", "#d1e7dd", "#f8d7da")


def draw_round(ax: Axes | None = None) -> Figure:
    """Draw the round as four boxes joined by arrows, with a loop back to the next round.

    >>> fig = draw_round()
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("1.")]
    ['1. Propose']
    """
    ax = ax or new_figure(figsize=(10, 2.8), layout="constrained").add_subplot()
    ax.set_xlim(0, 4)
    ax.set_ylim(-0.35, 1)
    ax.axis("off")
    for i, ((title, text), colour) in enumerate(zip(ROUND_STEPS, STEP_COLOURS, strict=True)):
        ax.add_patch(FancyBboxPatch((i + 0.05, 0.05), 0.8, 0.9, boxstyle="round,pad=0.02", facecolor=colour,
                                    edgecolor="0.3"))
        ax.text(i + 0.45, 0.82, title, ha="center", va="center", fontsize=11, fontweight="bold")
        ax.text(i + 0.45, 0.4, text, ha="center", va="center", fontsize=8.5)
        if i < len(ROUND_STEPS) - 1:
            ax.add_patch(FancyArrowPatch((i + 0.87, 0.5), (i + 1.03, 0.5), arrowstyle="-|>",
                                         mutation_scale=14))
    ax.add_patch(FancyArrowPatch((3.45, 0.03), (0.45, 0.03), connectionstyle="arc3,rad=-0.12",
                                 arrowstyle="-|>", mutation_scale=14, color="0.4"))
    ax.text(2, -0.28, "next round: the next learner proposes", ha="center", fontsize=9, color="0.3")
    return ax.figure
