"""Colearn's names and signatures: code written for the original colearn runs with its imports changed.

The kit's own functions stay free of colearn-only arguments; they are accepted here and nowhere
else: ``plot_results(results, n_learners, score_name, block=...)``, ``plot_votes(results, block=...)``,
``ColearnPlot(score_colname=...)`` and a drop-in ``datasets.MNIST`` that works offline.
``colearn_nb`` exports these versions under colearn's names.
Taught nowhere on its own: README's "Code written for the original colearn" and tests/test_seed_tutorial.py.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .protocol.results import Results
from .tutorial.mnist import MNIST
from .viz import plots
from .viz.display import show

# `from torchvision import datasets` -> `from colearn_nb import datasets`
datasets = SimpleNamespace(MNIST=MNIST)


def plot_results(results: Results, n_learners: int | None = None, score_name: str = "score",
                 ax: Axes | None = None, block: bool = False) -> Figure:
    """Colearn's ``plot_results``: ``n_learners`` is read from ``results``; ``block=True`` shows and waits.

    >>> from colearn_nb.protocol.results import Result
    >>> plot_results(Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5])]), 2).axes[0].get_ylabel()
    'score'
    """
    figure = plots.plot_results(results, score_name=score_name, ax=ax)
    show(figure, block=block)
    return figure


def plot_votes(results: Results, block: bool = False, ax: Axes | None = None) -> Figure:
    """Colearn's ``plot_votes``: ``block=True`` shows the figure and waits."""
    figure = plots.plot_votes(results, ax=ax)
    show(figure, block=block)
    return figure


class ColearnPlot(plots.ColearnPlot):
    """Colearn's ``ColearnPlot``, which also takes the score's name as ``score_colname``."""

    def __init__(self, score_name: str = "score", score_colname: str | None = None, **kwargs: Any):
        super().__init__(score_name=score_colname or score_name, **kwargs)
