"""Data splitting, the offline digits, results as plain data, and plots that never block."""
import json
import logging

import matplotlib
import pytest
import torch
from torch.utils.data import TensorDataset

from colearn_nb import (
    MNIST,
    ColearnPlot,
    Result,
    Results,
    learner_loaders,
    load_mnist,
    plot_results,
    plot_votes,
    prepare_data_split_list,
    print_results,
    split_dataset,
)


@pytest.mark.parametrize("n_samples, n_parts", [(10, 3), (100, 7), (5, 5), (4000, 5)])
def test_split_gives_every_sample_to_exactly_one_part(n_samples, n_parts):
    parts = split_dataset(TensorDataset(torch.arange(n_samples)), n_parts, seed=3)
    indices = [i for part in parts for i in part.indices]
    assert sorted(indices) == list(range(n_samples))
    assert [len(p) for p in parts] == prepare_data_split_list(range(n_samples), n_parts)
    assert len(parts[-1]) == n_samples // n_parts + n_samples % n_parts


def test_split_is_seeded():
    data = TensorDataset(torch.arange(50))
    assert split_dataset(data, 3, seed=1)[0].indices == split_dataset(data, 3, seed=1)[0].indices
    assert split_dataset(data, 3, seed=1)[0].indices != split_dataset(data, 3, seed=2)[0].indices


def test_more_parts_than_samples_is_refused():
    with pytest.raises(ValueError, match="n: got 5 parts for only 3 samples"):
        prepare_data_split_list(range(3), 5)


def test_learner_loaders_keep_data_private_and_complete():
    train, test = TensorDataset(torch.arange(100).float(), torch.arange(100)), \
        TensorDataset(torch.arange(100, 140).float(), torch.arange(100, 140))
    parts = learner_loaders(train, test, n_learners=4, batch_size=8)
    seen = [set(loader.labels.tolist()) for p in parts for loader in p]
    assert sum(len(s) for s in seen) == 140 and set().union(*seen) == set(range(140))
    assert all(len(p.vote.labels) == 5 and len(p.test.labels) == 5 for p in parts)


def test_offline_digits_are_real_mnist_and_logged(caplog):
    with caplog.at_level(logging.INFO, logger="colearn_nb.tutorial.mnist"):
        train, test = load_mnist()
    inputs, labels = train.tensors
    assert inputs.shape == (4000, 1, 28, 28) and len(test) == 1000
    assert 0 <= inputs.min() and inputs.max() <= 1 and torch.bincount(labels).min() > 300
    assert [r.getMessage() for r in caplog.records if "shipped with colearn_nb" in r.getMessage()]


def test_a_failed_download_is_not_retried(tmp_path, monkeypatch):
    monkeypatch.delenv("COLEARN_NB_OFFLINE")
    import torchvision.datasets

    calls = []

    def failing_mnist(*args, **kwargs):
        calls.append(kwargs)
        raise RuntimeError("no network")
    monkeypatch.setattr(torchvision.datasets, "MNIST", failing_mnist)
    for _ in range(3):
        train, _ = load_mnist(root=str(tmp_path), download=True)
        assert len(train) == 4000
    assert len(calls) == 1, "a failed download must not be paid again on the next call"


def test_torchvision_compatible_mnist_dataset():
    from torchvision import transforms

    data = MNIST("unused", transform=transforms.ToTensor())
    image, label = data[0]
    reference = transforms.ToTensor()(MNIST("unused")[0][0])
    assert image.shape == (1, 28, 28) and isinstance(label, int) and torch.equal(image, reference)
    assert len(MNIST("unused", train=False)) == 1000


def small_results(n_rounds=4, n_learners=3):
    results = Results([Result(True, [True] * n_learners, [0.5] * n_learners, [0.4] * n_learners)])
    for r in range(n_rounds):
        votes = [r % 2 == 0] * n_learners
        votes[r % n_learners] = None
        results.data.append(Result(r % 2 == 0, votes, [0.5 + r / 10] * n_learners,
                                   [0.4 + r / 10] * n_learners, [], r % n_learners))
    return results


def test_results_statistics_and_json_round_trip(tmp_path):
    results = small_results()
    assert results.mean_test_scores == pytest.approx([0.4, 0.4, 0.5, 0.6, 0.7])
    assert results.h_vote_scores[1] == pytest.approx([0.5, 0.5, 0.6, 0.7, 0.8])
    assert (results.n_accepted, results.n_rejected) == (2, 2)
    results.save(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["data"][2]["votes"] == [False, None, False]
    assert Results.load(tmp_path / "r.json") == results
    results.to_csv(tmp_path / "r.csv")
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0] == "round,learner,proposer,accepted,vote,vote_score,test_score" and len(rows) == 1 + 5 * 3
    assert rows[4] == "1,0,0,True,,0.5,0.4"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not a results file"):
        Results.load(tmp_path / "bad.json")


def test_print_results_shows_the_last_round(capsys):
    print_results(small_results())
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Round 3: learner 0 proposed, rejected (0 of 2 voted yes)"
    assert "     0     -" in out and "     1    no" in out


def test_plots_draw_headless_and_return_figures(tmp_path):
    assert matplotlib.get_backend().lower() == "agg"
    results = small_results()
    fig = plot_results(results, 3, score_name="accuracy")
    assert fig.axes[0].get_ylabel() == "accuracy" and len(fig.axes[0].lines) == 3 * 2 + 2
    again = plot_results(results, 3)
    assert again is not fig and fig.axes[0].get_ylabel() == "accuracy", \
        "each call makes a new figure; a kept one stays"
    votes = plot_votes(results, block=True)
    image = votes.axes[0].images[0].get_array()
    assert image.shape == (3, 5, 3)
    assert tuple(image[0, 1]) == (0.85, 0.85, 0.85) and tuple(image[0, 2]) == (1.0, 0.6, 0.6)
    assert tuple(image[1, 1]) == (0.8, 1.0, 0.8)
    plot = ColearnPlot(score_name="accuracy")
    plot.plot_results_and_votes(results)
    plot.block()
    plot.figure.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 10_000


def test_plot_on_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert plot_results(small_results(), ax=ax1) is fig and plot_votes(small_results(), ax=ax2) is fig
    assert ax1.lines and ax2.images


@pytest.mark.parametrize("method, alpha", [("dirichlet", 0.1), ("dirichlet", 100.0), ("shards", 0.5)])
def test_uneven_splits_give_every_sample_to_exactly_one_part(method, alpha):
    labels = torch.arange(1000) % 10
    parts = split_dataset(TensorDataset(torch.zeros(1000, 1), labels), 5, seed=0, method=method, alpha=alpha)
    assert sorted(i for part in parts for i in part.indices) == list(range(1000))
    n_labels = [len(set(labels[part.indices].tolist())) for part in parts]
    if method == "shards":
        assert n_labels == [2] * 5, "two shards of sorted labels each"
    elif alpha < 1:
        assert min(n_labels) < 10 and max(len(p) for p in parts) > 2 * min(len(p) for p in parts)
    else:
        assert n_labels == [10] * 5 and max(len(p) for p in parts) < 1.2 * min(len(p) for p in parts)


def test_uneven_vote_and_test_data_follow_the_learners_label_mix():
    data = TensorDataset(torch.zeros(2000, 1), torch.arange(2000) % 10)
    parts = learner_loaders(data, data, n_learners=4, method="dirichlet", alpha=0.2)
    for part in parts:
        train_share = torch.bincount(part.train.labels, minlength=10) / len(part.train.labels)
        vote_share = torch.bincount(part.vote.labels, minlength=10) / len(part.vote.labels)
        assert torch.allclose(train_share, vote_share, atol=0.15)


def test_unknown_split_method_and_bad_alpha_are_refused():
    data = TensorDataset(torch.zeros(10, 1), torch.arange(10))
    with pytest.raises(ValueError, match="method: got 'random'"):
        split_dataset(data, 2, method="random")
    with pytest.raises(ValueError, match="alpha: got 0"):
        split_dataset(data, 2, method="dirichlet", alpha=0)


def test_print_results_shows_privacy_budget_and_errors(capsys):
    results = small_results()
    results.data[-1].training_summaries = [{"dp_budget": {"target_epsilon": 5.0, "consumed_epsilon": 1.25,
                                                          "target_delta": 1e-5, "consumed_delta": 1e-5}}]
    results.data[-1].errors = ["learner 2 failed in round 3 while testing the proposal: boom"]
    print_results(results)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["privacy: epsilon 1.25 of 5 spent (delta 1e-05)",
                          "learner 2 failed in round 3 while testing the proposal: boom"]


def test_results_save_strict_json_and_load_null_as_nan(tmp_path):
    """NaN and infinities are written as null (strict JSON) and read back as NaN where a score is due."""
    import math

    import numpy as np

    results = small_results(n_rounds=2)
    results.data[1].vote_scores[0] = float("nan")  # the proposer's untested score
    results.data[2].test_scores[2] = float("inf")
    results.data[2].vote_scores[1] = np.float32(0.25)  # a numpy learner's score
    results.data[2].training_summaries = [{"mean_train_loss": float("nan"), "n_train_batches": np.int64(3),
                                           "dp_budget": {"target_epsilon": 5.0, "consumed_epsilon": math.inf,
                                                         "target_delta": 1e-5, "consumed_delta": 1e-5}}]
    results.save(tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    strict = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert strict["data"][1]["vote_scores"][0] is None and strict["data"][2]["test_scores"][2] is None
    assert strict["data"][2]["vote_scores"][1] == 0.25
    loaded = Results.load(tmp_path / "r.json")
    assert math.isnan(loaded.data[1].vote_scores[0]) and math.isnan(loaded.data[2].test_scores[2])
    assert loaded.data[2].vote_scores[1] == 0.25 and loaded.data[0] == results.data[0]
    summary = loaded.data[2].training_summaries[0]
    assert summary["n_train_batches"] == 3 and summary["mean_train_loss"] is None  # free-form: kept as null
    assert math.isnan(summary["dp_budget"]["consumed_epsilon"])
    print_results(loaded)  # still prints
    assert results.to_dict()["data"][1]["vote_scores"][0] != results.to_dict()["data"][1]["vote_scores"][0], \
        "to_dict stays plain data (NaN as a float)"


def test_results_files_of_the_previous_version_with_bare_nan_still_load(tmp_path):
    import math

    old = ('{"data": [{"vote": true, "votes": [true, true], "vote_scores": [0.5, NaN], "test_scores": '
           '[0.4, 0.6], "training_summaries": [], "block_proposer": null, "errors": []}]}')
    (tmp_path / "old.json").write_text(old)
    loaded = Results.load(tmp_path / "old.json")
    assert loaded.data[0].vote_scores[0] == 0.5 and math.isnan(loaded.data[0].vote_scores[1])


@pytest.mark.parametrize("round_1, message", [
    ({"vote_scores": ["0.5", 0.5, 0.5]}, r"round 1: vote_scores\[0\]: got '0.5'; expected a number or null"),
    ({"test_scores": [0.5, True, 0.5]}, r"round 1: test_scores\[1\]: got True; expected a number"),
    ({"votes": [None, 1, False]}, r"round 1: votes\[1\]: got 1; expected true, false or null"),
    ({"votes": "yes"}, r"round 1: votes: got 'yes'; expected a list"),
    ({"vote": "false"}, r"round 1: vote: got 'false'; expected true or false"),
    ({"block_proposer": 0.0}, r"round 1: block_proposer: got 0.0; expected null \(no proposal\) or a"),
    ({"block_proposer": 3}, r"round 1: block_proposer: got 3; expected .* integer in \[0, 2\]"),
    ({"errors": [None]}, r"round 1: errors: got \[None\]; expected a list of strings"),
    ({"votes": [None, True]}, r"round 1: votes, vote_scores and test_scores: got 2, 3 and 3 entries"),
    ({"votes": [None, True], "vote_scores": [1, 1], "test_scores": [1, 1]},
     r"round 1: votes: got 2 learners; expected 3, as in round 0"),
    ({"training_summaries": [{"dp_budget": {"target_epsilon": "5"}}]},
     r"round 1: training_summaries\[0\]\['dp_budget'\]: got .*; expected a dict with target_epsilon"),
    ({"score": 1}, r"round 1: unknown fields \['score'\]"),
])
def test_results_with_wrong_types_are_refused_on_load_naming_round_and_field(tmp_path, round_1, message):
    data = small_results(n_rounds=2).to_dict()
    data["data"][1].update(round_1)
    (tmp_path / "r.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as refused:
        Results.load(tmp_path / "r.json")
    assert "is not a results file written by Results.save" in str(refused.value)
    with pytest.raises(ValueError, match=message):
        Results.from_dict(data)


def test_results_module_still_exports_the_report_by_its_old_names():
    """The report lives in ``protocol/report.py``; importing it from ``protocol.results`` still works."""
    import colearn_nb
    from colearn_nb.protocol import report, results
    from colearn_nb.protocol.results import format_budget, print_results, round_label  # noqa: F401

    assert results.print_results is report.print_results is colearn_nb.print_results
    assert results.format_budget is report.format_budget is colearn_nb.format_budget
    assert results.round_label(1) == "0"
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        results.nothing_here  # noqa: B018
