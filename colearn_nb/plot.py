"""Static plots of Results: scores per round and the vote matrix. Safe headless; never blocking unless asked."""
from __future__ import annotations

import sys
from typing import Dict, Optional

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .results import Results

VOTE_COLOURS = {True: (0.80, 1.00, 0.80), False: (1.00, 0.60, 0.60), None: (0.85, 0.85, 0.85)}
GUI_BACKEND_PREFIXES = ("qt", "tk", "gtk", "wx", "macosx")
_reused: Dict[str, Figure] = {}  # plot_results / plot_votes without ax= redraw one figure each


def _gui_backend() -> bool:
    """True when matplotlib draws into windows (Qt, Tk, GTK, wx, macOS), not files or notebooks."""
    return matplotlib.get_backend().lower().startswith(GUI_BACKEND_PREFIXES)


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and hasattr(shell, "kernel")


def new_figure(**kwargs) -> Figure:
    """A figure outside pyplot's registry, unless a window backend is in use; shown as PNG in a notebook."""
    if _gui_backend():
        import matplotlib.pyplot as plt

        return plt.figure(**kwargs)
    if _in_notebook():
        _show_figures_as_png()
    return Figure(**kwargs)


def _show_figures_as_png() -> None:
    """Let a notebook display a plain ``Figure`` as a picture (pyplot's inline backend does it only for its own)."""
    from IPython import get_ipython
    from IPython.core.pylabtools import print_figure

    formatter = get_ipython().display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def show(*figures: Figure, block: bool = False) -> None:
    """Show figures where a person can see them: windows, or a notebook when ``block``; else nothing."""
    if _gui_backend():
        import matplotlib.pyplot as plt

        plt.show(block=block)
        for fig in figures:
            fig.canvas.draw_idle()
            fig.canvas.flush_events()
    elif block and _in_notebook():
        from IPython.display import display

        display(*figures)


def _reused_axes(key: str, figsize: tuple) -> Axes:
    fig = _reused.get(key)
    if fig is None:
        fig = _reused[key] = new_figure(figsize=figsize, layout="constrained")
    fig.clear()
    return fig.add_subplot()


def draw_scores(ax: Axes, results: Results, score_name: str = "score") -> None:
    """Per-learner test (blue) and vote (red) scores per round, thin; their means bold."""
    ax.clear()
    rounds = np.arange(len(results.data))
    for test_scores, vote_scores in zip(results.h_test_scores, results.h_vote_scores):
        ax.plot(rounds, test_scores, "b--", alpha=0.4, linewidth=1)
        ax.plot(rounds, vote_scores, "r--", alpha=0.4, linewidth=1)
    ax.plot(rounds, results.mean_test_scores, "b", linewidth=3, label=f"mean test {score_name}")
    ax.plot(rounds, results.mean_vote_scores, "r", linewidth=3, label=f"mean vote {score_name}")
    ax.set_xlabel("training round")
    ax.set_ylabel(score_name)
    ax.set_xlim(-0.5, max(len(rounds) - 0.5, 0.5))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best")


def vote_image(results: Results) -> np.ndarray:
    """The vote matrix as RGB, learners down and rounds across: green yes, red no, grey no vote."""
    image = np.zeros((results.n_learners, len(results.data), 3))
    for round_index, result in enumerate(results.data):
        for learner, vote in enumerate(result.votes):
            image[learner, round_index] = VOTE_COLOURS[None if vote is None else bool(vote)]
    return image


def draw_votes(ax: Axes, results: Results) -> None:
    """The vote matrix; each round's proposer marked with a tick when accepted, a cross when rejected."""
    ax.clear()
    n_rounds, n_learners = len(results.data), results.n_learners
    ax.imshow(vote_image(results), aspect="auto", interpolation="nearest")
    proposals = [(i, r.block_proposer, r.vote) for i, r in enumerate(results.data) if r.block_proposer is not None]
    accepted = [(i, p) for i, p, v in proposals if v]
    rejected = [(i, p) for i, p, v in proposals if not v]
    if accepted:
        ax.scatter(*zip(*accepted), marker=r"$\checkmark$", c="green", s=150, label="proposer, accepted")
    if rejected:
        ax.scatter(*zip(*rejected), marker="X", c="red", s=120, label="proposer, rejected")
    ax.set_yticks(range(n_learners), [f"learner {i}" for i in range(n_learners)])
    ax.set_xticks(range(0, n_rounds, max(1, n_rounds // 20)))
    ax.vlines(np.arange(-0.5, n_rounds, 1), -0.5, n_learners - 0.5, colors="w", linewidth=2)
    ax.hlines(np.arange(-0.5, n_learners, 1), -0.5, n_rounds - 0.5, colors="w", linewidth=2)
    ax.set_xlabel("training round")
    handles = [Patch(color=VOTE_COLOURS[k], label=label) for k, label in
               ((True, "yes"), (False, "no"), (None, "no vote"))]
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="upper left", bbox_to_anchor=(1.01, 1))


def plot_results(results: Results, n_learners: Optional[int] = None, score_name: str = "score",
                 ax: Optional[Axes] = None, block: bool = False) -> Figure:
    """Plot scores per round (``n_learners`` is read from ``results``; kept for colearn code).

    >>> from colearn_nb.results import Result
    >>> r = Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5])])
    >>> plot_results(r, score_name="accuracy").axes[0].get_ylabel()
    'accuracy'
    """
    ax = ax or _reused_axes("results", (8, 4))
    draw_scores(ax, results, score_name)
    show(ax.figure, block=block)
    return ax.figure


def plot_votes(results: Results, block: bool = False, ax: Optional[Axes] = None) -> Figure:
    """Plot the vote matrix of ``results``.

    >>> from colearn_nb.results import Result
    >>> r = Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5])])
    >>> plot_votes(r).axes[0].get_xlabel()
    'training round'
    """
    ax = ax or _reused_axes("votes", (10, 3))
    draw_votes(ax, results)
    show(ax.figure, block=block)
    return ax.figure


class ColearnPlot:
    """Scores and votes in one figure, redrawn in place each round; ``block()`` shows it and waits."""

    def __init__(self, score_name: str = "score", score_colname: Optional[str] = None):
        self.score_name = score_colname or score_name
        self.figure = new_figure(figsize=(10, 7), layout="constrained")
        self.results_axes, self.votes_axes = self.figure.subplots(2, 1)

    def __repr__(self) -> str:
        return f"ColearnPlot(score_name={self.score_name!r})"

    def plot_results(self, results: Results) -> Figure:
        """Redraw the score panel."""
        draw_scores(self.results_axes, results, self.score_name)
        show(self.figure)
        return self.figure

    def plot_votes(self, results: Results) -> Figure:
        """Redraw the vote panel."""
        draw_votes(self.votes_axes, results)
        show(self.figure)
        return self.figure

    def plot_results_and_votes(self, results: Results) -> Figure:
        """Redraw both panels."""
        self.plot_results(results)
        return self.plot_votes(results)

    def block(self) -> None:
        """Show the figure and wait (a window backend), show it once (a notebook), or do nothing (headless)."""
        show(self.figure, block=True)
