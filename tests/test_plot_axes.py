"""Every plotting function of the kit, drawn (Agg): round axes read "start", 0, 1, ... as notebook 05
promises, and axes that count epochs, batches or labels show whole numbers only."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from colearn_nb.protocol.results import Result, Results

matplotlib.use("Agg")


def synthetic_results(n_rounds: int, n_learners: int = 3) -> Results:
    """``n_rounds`` rounds after the start, every third proposal rejected; no training needed."""
    results = Results([Result(False, [None] * n_learners, [0.1] * n_learners, [0.1] * n_learners)])
    for round_index in range(n_rounds):
        accepted, proposer = round_index % 3 != 2, round_index % n_learners
        votes = [None if i == proposer else accepted for i in range(n_learners)]
        score = 0.1 + 0.8 * round_index / max(n_rounds, 1)
        results.append(Result(accepted, votes, [score] * n_learners, [score] * n_learners,
                              block_proposer=proposer))
    return results


def tick_labels(ax) -> list[str]:
    ax.figure.canvas.draw()  # the labels a reader sees: those of the drawn figure
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


def round_labels(n_rounds: int) -> list[str]:
    return ["start", *[str(r) for r in range(n_rounds)]]


def is_whole_number(label: str) -> bool:
    return label.replace("\N{MINUS SIGN}", "-").lstrip("-").isdigit()


@pytest.mark.parametrize("n_rounds", [4, 10])
def test_every_round_axis_reads_start_then_round_indices(n_rounds):
    from colearn_nb import ColearnPlot, LivePlot, plot_curves, plot_results, plot_votes

    results = synthetic_results(n_rounds)
    live = LivePlot(on_frame=lambda frame: None)
    live.update(results)
    colearn_plot = ColearnPlot()
    colearn_plot.plot_results_and_votes(results)
    axes = {"plot_results": plot_results(results).axes[0], "plot_votes": plot_votes(results).axes[0],
            "ColearnPlot scores": colearn_plot.results_axes, "ColearnPlot votes": colearn_plot.votes_axes,
            "LivePlot scores": live.scores_axes, "LivePlot votes": live.votes_axes,
            "plot_curves of Results": plot_curves({"a": results, "b": results}).axes[0],
            "plot_curves of per-round scores": plot_curves({"a": results.mean_test_scores}).axes[0]}
    for name, ax in axes.items():
        assert tick_labels(ax) == round_labels(n_rounds), name
        assert list(ax.get_xticks()) == list(range(n_rounds + 1)), f"{name}: round k at x = k + 1"
        assert "start" in ax.get_xlabel(), name


def test_long_runs_label_every_few_rounds_from_the_start():
    from colearn_nb import plot_curves

    labels = tick_labels(plot_curves({"run": synthetic_results(40)}).axes[0])
    assert labels[0] == "start" and labels[1:4] == ["0", "5", "10"], labels


def test_curves_per_round_plot_each_round_at_its_label():
    from colearn_nb import plot_curves

    results = synthetic_results(5)
    line = plot_curves({"run": results}).axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [0, 1, 2, 3, 4, 5]
    assert list(line.get_ydata()) == results.shared_model_scores, "the weights the learners hold"


def test_epoch_and_batch_axes_show_whole_numbers():
    from colearn_nb import plot_comparison, plot_curves
    from colearn_nb.tutorial.comparison import Comparison

    epochs = plot_curves({"together": (list(range(21)), np.linspace(0.1, 0.9, 21).tolist()),
                          "alone": ([0, 5, 10, 15, 20], [0.1, 0.5, 0.6, 0.7, 0.8])}).axes[0]
    comparison = Comparison({"alone": [0, 3, 6, 9], "pooled": [0, 3, 6, 9]},
                            {"alone": [0.1, 0.3, 0.4, 0.5], "pooled": [0.1, 0.5, 0.6, 0.7]}, n_rounds=3)
    for name, ax in (("epochs", epochs), ("batches", plot_comparison(comparison).axes[0])):
        labels = tick_labels(ax)
        assert labels and all(is_whole_number(label) for label in labels), (name, labels)
    assert epochs.get_xlabel() == "training epochs, all learners together"


def test_label_and_learner_axes_count_whole_numbers():
    from colearn_nb import plot_label_mix, plot_label_mixes

    counts = np.array([[5, 0, 3], [1, 4, 0]])
    for figure in (plot_label_mix(counts, show="counts"), plot_label_mixes({"a": counts, "b": counts})):
        for ax in figure.axes:
            if ax.get_xlabel() == "label":
                assert tick_labels(ax) == ["0", "1", "2"]


def test_label_histograms_tick_every_label():
    from colearn_nb import learner_loaders, plot_label_histograms
    from colearn_nb.tutorial.mnist import load_mnist

    loaders = learner_loaders(*load_mnist(), n_learners=2, seed=0)
    assert tick_labels(plot_label_histograms(loaders).axes[0]) == [str(d) for d in range(10)]


def test_round_curves_and_pairs_do_not_mix():
    from colearn_nb import plot_curves

    with pytest.raises(ValueError, match="one kind"):
        plot_curves({"rounds": synthetic_results(2), "epochs": ([0, 1], [0.1, 0.2])})
    with pytest.raises(ValueError, match="expected a Results, a list of scores"):
        plot_curves({"run": "accuracy"})
    with pytest.raises(ValueError, match="empty Results"):
        plot_curves({"run": Results()})


def vote_axes(results: Results) -> dict:
    """The vote matrix of ``results`` as each plot draws it, drawn."""
    from colearn_nb import ColearnPlot, LivePlot, plot_votes

    live, colearn_plot = LivePlot(on_frame=lambda frame: None), ColearnPlot()
    live.update(results)
    colearn_plot.plot_votes(results)
    axes = {"LivePlot (the projector's)": live.votes_axes, "plot_votes": plot_votes(results).axes[0],
            "ColearnPlot": colearn_plot.votes_axes}
    for ax in axes.values():
        ax.figure.canvas.draw()
    return axes


def overlapping(boxes: list) -> list:
    """Pairs of neighbouring boxes (bottom to top) that overlap."""
    boxes = sorted(boxes, key=lambda box: box.y0)
    return [(a, b) for a, b in zip(boxes, boxes[1:], strict=False) if a.y1 > b.y0]


@pytest.mark.parametrize("n_learners", [2, 5, 30, 40])
def test_vote_matrix_is_readable_from_2_to_40_learners(n_learners):
    """A workshop's class of 30 on the projector: learner labels apart and inside the picture, one row a
    learner, each proposer's mark within its cell, the legend beside the cells; up to 10 learners each
    row still reads "learner i"."""
    results = synthetic_results(10, n_learners)
    for name, ax in vote_axes(results).items():
        labels = [t for t in ax.get_yticklabels() if t.get_text()]
        boxes = [t.get_window_extent() for t in labels]
        assert not overlapping(boxes), (name, [t.get_text() for t in labels])
        assert min(box.x0 for box in boxes) >= 0, f"{name}: a learner label cut at the picture's left"
        assert ax.images[0].get_array().shape[:2] == (n_learners, 11), name
        if n_learners <= 5:
            assert [t.get_text() for t in labels] == [f"learner {i}" for i in range(n_learners)], name
        else:
            assert labels[0].get_text() == "0" and ax.get_ylabel() == "learner", name
            ticked = {*ax.get_yticks(), *ax.get_yticks(minor=True)}
            assert ticked == set(range(n_learners)), f"{name}: a tick on every row"
        row_px = ax.get_window_extent().height / n_learners
        for marks in ax.collections[:2]:  # the proposers' ticks and crosses
            assert np.sqrt(marks.get_sizes()).max() * ax.figure.dpi / 72 <= row_px, name
        assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1, name
