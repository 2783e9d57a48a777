"""Static plots: scores per round, the vote matrix, compared runs, label histograms (notebooks 02, 05, 08-11).

Every function takes ``ax=`` to draw into given axes, else makes a new figure; each returns the figure.
Nothing here shows a window or blocks: see ``display.show``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..protocol.checks import check_choice
from ..protocol.report import round_label, shown_vote
from ..protocol.results import Result, Results, holds_its_scores, mean
from ..pytorch.splitting import LearnerLoaders, label_counts
from .display import new_figure, show

if TYPE_CHECKING:
    from ..tutorial.comparison import Comparison

Curve = tuple[Sequence[float], Sequence[float]]

VOTE_COLOURS = {True: (0.80, 1.00, 0.80), False: (1.00, 0.60, 0.60), None: (0.85, 0.85, 0.85)}
ROUND_AXIS_LABEL = "round (start: the equal starting weights)"


def held_results(results: Results) -> list[Result]:
    """For each round, the ``Result`` whose scores are those of the weights the learners hold after it.

    A rejected proposal leaves the learners on the weights of the last round they accepted.

    >>> r = Results([Result(False, [True], [0.1], [0.2]),
    ...              Result(False, [None], [0.9], [0.9], block_proposer=0)])
    >>> [h.test_scores for h in held_results(r)]
    [[0.2], [0.2]]
    """
    held: list[Result] = []
    for result in results.data:
        held.append(result if holds_its_scores(result) or not held else held[-1])
    return held


def label_rounds(ax: Axes, n_columns: int) -> None:
    """x ticks at ``Results.data`` positions, labelled "start", 0, 1, ... (each round's ``round_index``)."""
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9) if n_columns <= 15 * s)
    ticks = [0, *range(1, n_columns, step)]
    ax.set_xticks(ticks, [round_label(t) for t in ticks])
    ax.set_xlabel(ROUND_AXIS_LABEL)


def draw_scores(ax: Axes, results: Results, score_name: str = "score") -> None:
    """The scores of the weights the learners hold after each round: test (blue) and vote (red), means bold.

    Thin dashed lines are each learner's scores, flat while proposals are rejected; each proposal's
    own scores are in the vote table (``print_results``), where the vote is explained.
    """
    ax.clear()
    held, rounds = held_results(results), np.arange(len(results.data))
    for learner in range(results.n_learners):
        ax.plot(rounds, [r.test_scores[learner] for r in held], "b--", alpha=0.4, linewidth=1)
        ax.plot(rounds, [r.vote_scores[learner] for r in held], "r--", alpha=0.4, linewidth=1)
    ax.plot(rounds, results.shared_model_scores, "b", marker="o", markersize=4, linewidth=3,
            label=f"shared model: mean test {score_name}")
    ax.plot(rounds, [mean(r.vote_scores) for r in held], "r", marker="o", markersize=4, linewidth=3,
            label=f"shared model: mean vote {score_name}")
    ax.set_ylabel(score_name)
    ax.set_xlim(-0.5, max(len(rounds) - 0.5, 1.5))
    label_rounds(ax, len(rounds))
    ax.legend(loc="best")


def vote_image(results: Results) -> np.ndarray:
    """The vote matrix as RGB, learners down, rounds across: green yes, red no, grey none (the start too)."""
    image = np.zeros((results.n_learners, len(results.data), 3))
    for column, result in enumerate(results.data):
        for learner in range(len(result.votes)):
            vote = shown_vote(result, learner)
            image[learner, column] = VOTE_COLOURS[None if vote is None else bool(vote)]
    return image


def cell_points(ax: Axes, n_rows: int, n_columns: int) -> tuple[float, float]:
    """The height and width in points of one cell of an ``n_rows`` x ``n_columns`` grid filling ``ax``."""
    box, points_per_pixel = ax.get_window_extent(), 72 / ax.figure.dpi
    return box.height * points_per_pixel / max(n_rows, 1), box.width * points_per_pixel / max(n_columns, 1)


def label_learners(ax: Axes, n_learners: int, row_pt: float) -> None:
    """y ticks: "learner i" on every row up to 10 learners while they fit, else the numbers of every few.

    A label needs 1.5 times its font's height; every row keeps a tick, so rows can be counted.

    >>> ax = new_figure(figsize=(10, 3)).add_subplot()
    >>> label_learners(ax, 30, row_pt=6.0)
    >>> [t.get_text() for t in ax.get_yticklabels()], ax.get_ylabel()
    (['0', '5', '10', '15', '20', '25'], 'learner')
    """
    font_pt = FontProperties(size=rcParams["ytick.labelsize"]).get_size_in_points()
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 10**9) if s * row_pt >= 1.5 * font_pt)
    if step == 1 and n_learners <= 10:  # "learner 10" would not fit the live plot's margin
        ax.set_yticks(range(n_learners), [f"learner {i}" for i in range(n_learners)])
        return
    ax.set_yticks(range(0, n_learners, step), [str(i) for i in range(0, n_learners, step)])
    ax.set_yticks(range(n_learners), minor=True)
    ax.set_ylabel("learner")


def mark_proposers(ax: Axes, results: Results, cell_pt: float) -> None:
    """Each round's proposer: a tick when accepted, a cross when rejected, each within its cell."""
    proposals = [(i, r.block_proposer, r.vote) for i, r in enumerate(results.data)
                 if r.block_proposer is not None]
    accepted = [(i, p) for i, p, v in proposals if v]
    rejected = [(i, p) for i, p, v in proposals if not v]
    size = min(150.0, (0.9 * cell_pt) ** 2)  # a marker's area in points squared; at most a cell
    if accepted:
        ax.scatter(*zip(*accepted, strict=True), marker=r"$\checkmark$", c="green", s=size,
                   label="proposer, accepted")
    if rejected:
        ax.scatter(*zip(*rejected, strict=True), marker="X", c="red", s=0.8 * size,
                   label="proposer, rejected")


def draw_votes(ax: Axes, results: Results) -> None:
    """The vote matrix; each round's proposer marked with a tick when accepted, a cross when rejected.

    Markers, the white lines between cells and the learners' labels shrink to fit the cells (30 learners
    on a projector: a number every few rows).
    """
    ax.clear()
    n_columns, n_learners = len(results.data), results.n_learners
    row_pt, column_pt = cell_points(ax, n_learners, max(n_columns, 2))
    ax.imshow(vote_image(results), aspect="auto", interpolation="nearest")
    mark_proposers(ax, results, min(row_pt, column_pt))
    label_learners(ax, n_learners, row_pt)
    ax.set_xlim(-0.5, max(n_columns - 0.5, 1.5))
    label_rounds(ax, n_columns)
    line_width = min(2.0, min(row_pt, column_pt) / 6)
    ax.vlines(np.arange(-0.5, n_columns, 1), -0.5, n_learners - 0.5, colors="w", linewidth=line_width)
    ax.hlines(np.arange(-0.5, n_learners, 1), -0.5, n_columns - 0.5, colors="w", linewidth=line_width)
    handles = [Patch(color=VOTE_COLOURS[k], label=label) for k, label in
               ((True, "yes"), (False, "no"), (None, "no vote"))]
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, loc="upper left", bbox_to_anchor=(1.01, 1))


def plot_results(results: Results, score_name: str = "score", ax: Axes | None = None) -> Figure:
    """The shared model's scores per round: each learner's thin, means bold; a new figure unless ``ax``.

    >>> from colearn_nb.protocol.results import Result
    >>> r = Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5])])
    >>> plot_results(r, score_name="accuracy").axes[0].get_ylabel()
    'accuracy'
    """
    ax = ax or new_figure(figsize=(8, 4), layout="constrained").add_subplot()
    draw_scores(ax, results, score_name)
    return ax.figure


def plot_votes(results: Results, ax: Axes | None = None) -> Figure:
    """The vote matrix of ``results``; a new figure unless ``ax``.

    >>> from colearn_nb.protocol.results import Result
    >>> r = Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5])])
    >>> [t.get_text() for t in plot_votes(r).axes[0].get_xticklabels()]
    ['start']
    """
    ax = ax or new_figure(figsize=(10, 3), layout="constrained").add_subplot()
    draw_votes(ax, results)
    return ax.figure


class ColearnPlot:
    """Scores and votes in one figure, redrawn in place each round; ``block()`` shows it and waits.

    For a figure that updates itself in a notebook while rounds run, use ``LivePlot``.
    """

    def __init__(self, score_name: str = "score"):
        self.score_name = score_name
        self.figure = new_figure(figsize=(10, 6), layout="constrained")  # fits a laptop's notebook area
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
        """Show the figure and wait (window backend), show it once (notebook), or do nothing (headless)."""
        show(self.figure, block=True)


def _is_round_curve(value: object) -> bool:
    """True for a ``Results`` or a list of numbers (one per round, start first); False for ``(x, scores)``."""
    if isinstance(value, Results):
        return True
    return isinstance(value, Sequence) and len(value) > 0 and all(
        isinstance(v, Real) and not isinstance(v, bool) for v in value)


def _round_scores(name: str, value: Results | Sequence[float]) -> Sequence[float]:
    """The scores of a per-round curve: a ``Results``' shared model, or the list itself."""
    scores = value.shared_model_scores if isinstance(value, Results) else value
    if not scores:
        raise ValueError(f"curves[{name!r}]: got an empty Results; expected at least its start")
    return scores


def _curve(name: str, value: object) -> Curve:
    """``(x, scores)`` of one value of ``plot_curves``' ``curves``, checked."""
    if not (isinstance(value, Sequence) and len(value) == 2
            and all(isinstance(part, Sequence) for part in value)):
        raise ValueError(f"curves[{name!r}]: got {type(value).__name__}; expected a Results, a list of "
                         "scores (one per round, start first) or an (x, scores) pair of lists")
    x, scores = value
    if len(x) != len(scores):
        raise ValueError(f"curves[{name!r}]: got {len(x)} x values but {len(scores)} scores; "
                         "they must have the same length")
    return x, scores


def plot_curves(curves: Mapping[str, Results | Sequence[float] | Curve], xlabel: str | None = None,
                score_name: str = "score", ax: Axes | None = None) -> Figure:
    """One line per named curve: per round (a ``Results`` or its scores) or against ``x`` (``(x, scores)``).

    A ``Results`` is drawn as its shared model's mean test score after each round, a list of numbers as one
    value per round; both against the rounds, labelled "start", 0, 1, ... as in every plot of the kit.
    ``(x, scores)`` pairs share an x axis (e.g. training epochs), so runs with different budgets compare.

    >>> r = Results([Result(True, [True, True], [0.1, 0.1], [0.1, 0.1])])
    >>> r.append(Result(True, [None, True], [0.5, 0.5], [0.5, 0.6], block_proposer=0))
    >>> [t.get_text() for t in plot_curves({"run": r}).axes[0].get_xticklabels()]
    ['start', '0']
    >>> fig = plot_curves({"a": ([0, 1], [0.1, 0.5])}, score_name="accuracy")
    >>> fig.axes[0].get_ylabel(), [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ('mean test accuracy', ['a'])
    """
    if not curves:
        raise ValueError("curves: got an empty mapping; expected at least one {name: Results} or "
                         "{name: (x, scores)}")
    per_round = {name: _is_round_curve(value) for name, value in curves.items()}
    if len(set(per_round.values())) > 1:
        raise ValueError(f"curves: {[n for n, r in per_round.items() if r]} are per round but "
                         f"{[n for n, r in per_round.items() if not r]} are (x, scores) pairs; expected one "
                         "kind: draw rounds and other x values in separate plots")
    ax = ax or new_figure(figsize=(8, 4), layout="constrained").add_subplot()
    for name, value in curves.items():
        if per_round[name]:
            scores = _round_scores(name, value)  # type: ignore[arg-type]
            ax.plot(range(len(scores)), scores, marker="o", markersize=3, label=name)
        else:
            ax.plot(*_curve(name, value), marker="o", markersize=3, label=name)
    if all(per_round.values()):
        label_rounds(ax, max(len(line.get_xdata()) for line in ax.get_lines()))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, batches: whole numbers
    ax.set_xlabel(xlabel or (ROUND_AXIS_LABEL if all(per_round.values()) else
                             "training epochs, all learners together"))
    ax.set_ylabel(f"mean test {score_name}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes: curves end where a legend sits
    return ax.figure


def plot_label_histograms(loaders: Sequence[LearnerLoaders], n_classes: int = 10, part: str = "train",
                          ax: Axes | None = None) -> Figure:
    """Grouped bars: per class, how many ``part`` ("train", "vote" or "test") samples each learner holds."""
    check_choice("part", part, LearnerLoaders._fields)
    ax = ax or new_figure(figsize=(9, 3.5), layout="constrained").add_subplot()
    width = 0.8 / max(len(loaders), 1)
    for i, learner_data in enumerate(loaders):
        counts = label_counts(getattr(learner_data, part).labels, n_classes)
        ax.bar(np.arange(n_classes) + (i - (len(loaders) - 1) / 2) * width, counts, width,
               label=f"learner {i}")
    ax.set_xticks(range(n_classes))
    ax.set_xlabel("label")
    ax.set_ylabel(f"{part} samples")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax.figure


def plot_comparison(comparison: Comparison, ax: Axes | None = None) -> Figure:
    """Mean test accuracy of every approach against training batches done, on one plot.

    >>> from colearn_nb.tutorial.comparison import Comparison
    >>> c = Comparison({"alone": [0, 10], "pooled": [0, 10]}, {"alone": [0.1, 0.6], "pooled": [0.1, 0.8]})
    >>> [t.get_text() for t in plot_comparison(c).axes[0].get_legend().get_texts()]
    ['alone', 'pooled']
    """
    curves = {name: (comparison.training_batches[name], scores)
              for name, scores in comparison.mean_test_accuracy.items()}
    figure = plot_curves(curves, xlabel="training batches, all learners together", score_name="accuracy",
                         ax=ax)
    figure.axes[0].set_title(f"same data, same starting weights, {comparison.n_rounds} rounds")
    return figure
