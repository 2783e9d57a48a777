"""Notebook 14's lab: one budget for all approaches, plain data, the same numbers twice, a table, a plot."""
from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("flwr")
from colearn_nb import LabSettings, plot_robustness, robustness_lab  # noqa: E402
from colearn_nb.tutorial.robustness import quick_runs  # noqa: E402

SMALL = {"n_fed_rounds": 1, "num_train_batches": 1}


@pytest.fixture(scope="module")
def lab():
    """Garbage and the backdoor at half of 8 learners, one federated round of one batch (quick)."""
    return robustness_lab(LabSettings(**SMALL), fractions=(0.5,), attacks=("garbage", "backdoor"))


def test_every_approach_trains_the_same_batches_and_every_run_is_there(lab):
    approaches = lab.settings.approaches()
    assert approaches == ["vote 0.25", "vote 0.5", "fedavg", "fedmedian", "fedtrimmedavg", "krum",
                          "multikrum", "bulyan"]
    assert len(lab.outcomes) == 3 * len(approaches) and lab.fractions() == [0.0, 0.5]
    assert {o.n_batches for o in lab.outcomes if o.attack == "none"} == {8}  # 8 learners x 1 round x 1 batch
    assert lab.settings.n_vote_rounds == 8
    garbage_at_half = {o.n_batches for o in lab.outcomes if o.attack == "garbage"}
    assert garbage_at_half == {4}  # the 4 garbage proposers do not train


def test_the_same_settings_give_the_same_numbers_on_any_thread_count(lab):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        again = robustness_lab(LabSettings(**SMALL), fractions=(0.5,), attacks=("garbage", "backdoor"))
    finally:
        torch.set_num_threads(threads)
    assert again.to_dict() == lab.to_dict()
    assert torch.get_num_threads() == threads
    with quick_runs():
        assert torch.get_num_threads() == 1


def test_results_are_plain_data_and_the_tables_have_a_row_per_column(lab):
    data = json.loads(json.dumps(lab.to_dict(), default=lambda value: value.__name__))
    assert len(data["outcomes"]) == len(lab.outcomes)
    assert lab.columns("asr") == [("backdoor", 0.0), ("backdoor", 0.5)]
    table = lab.table().splitlines()
    assert table[0].split() == [word for name in lab.settings.approaches() for word in name.split()]
    rows = [line.split("  ")[0].strip() for line in table[1:]]
    assert rows == ["no attack", "garbage 0.50", "backdoor 0.50"]
    assert len(lab.values("asr")) == 8 and all(len(row) == 2 for row in lab.values("asr"))


def test_the_picture_has_a_cell_per_value_and_takes_given_axes(lab):
    from matplotlib.figure import Figure

    figure = Figure()
    ax = figure.add_subplot()
    assert plot_robustness(lab, "asr", ax=ax) is figure
    assert len(ax.texts) == 8 * 2
    assert len(plot_robustness(lab).axes[0].texts) == 8 * 3


@pytest.mark.parametrize("call, message", [
    (lambda: robustness_lab(fractions=(0.75,)), r"^fractions: got 0.75; expected a number in \(0, 0.5\]"),
    (lambda: robustness_lab(attacks=("poison",)), r"^attacks: got 'poison'; expected 'garbage'"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_score_that_is_not_there_is_refused(lab):
    with pytest.raises(ValueError, match=r"^score: got 'loss'; expected 'accuracy' or 'asr'$"):
        plot_robustness(lab, "loss")
