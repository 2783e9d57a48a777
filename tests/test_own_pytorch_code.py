"""Learners built as colearn's tutorial builds them: random_split, plain DataLoaders, own models."""
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset, random_split
from user_learners import Tied as TiedNet  # two layers sharing one weight

from colearn_nb import (
    MachineLearningInterface,
    ProposedWeights,
    PytorchLearner,
    Results,
    Weights,
    collective_learning_round,
    initial_result,
    load_checkpoint,
    save_checkpoint,
)
from colearn_nb.pytorch import checkpoint


class Net(nn.Module):
    """A user's own small classifier."""

    def __init__(self):
        super().__init__()
        self.hidden, self.out = nn.Linear(4, 8), nn.Linear(8, 3)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


class Stream(IterableDataset):
    """Streaming samples: no ``__len__``."""

    def __init__(self, inputs, labels):
        self.inputs, self.labels = inputs, labels

    def __iter__(self):
        yield from zip(self.inputs, self.labels, strict=True)


def dataset(n=240, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 4, generator=generator)
    labels = ((inputs[:, 0] > 0).long() + (inputs[:, 1] > 0.5).long()).clamp(max=2)
    return TensorDataset(inputs, labels)


def make_user_learners(n_learners=3, model_class=Net, optimizer="adam", scheduler=False, two_groups=False,
                       lr=0.02):
    """The colearn tutorial's way: random_split, DataLoaders without generator=, own model and optimizer."""
    learners = []
    for part in random_split(dataset(), [1 / n_learners] * n_learners):
        train, vote, test = random_split(part, [0.6, 0.2, 0.2])
        model = model_class()
        params = ([{"params": [p]} for p in model.parameters()] if two_groups else model.parameters())
        opt = (torch.optim.Adam(params, lr=lr) if optimizer == "adam"
               else torch.optim.SGD(params, lr=0.1, momentum=0.9))
        learners.append(PytorchLearner(
            model=model, optimizer=opt, criterion=nn.CrossEntropyLoss(), num_train_batches=3,
            train_loader=DataLoader(train, batch_size=8, shuffle=True),
            vote_loader=DataLoader(vote, batch_size=8), test_loader=DataLoader(test, batch_size=8),
            scheduler=torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7) if scheduler else None))
    return learners


def weights_of(learner):
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run(learners, results, first, last):
    for round_index in range(first, last):
        results.data.append(collective_learning_round(learners, 0.5, round_index))
    return results


# -- defect 1: plain DataLoaders (no generator=) save, and resume exactly in a new process ---------------
RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[4])
    from test_own_pytorch_code import make_user_learners, run
    from colearn_nb import Results, initial_result, load_checkpoint, save_checkpoint, seed_everything

    first, last, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    seed_everything(0)
    learners = make_user_learners(scheduler=True, lr=0.2)
    results = Results([initial_result(learners)]) if first == 0 else load_checkpoint(out + ".ckpt", learners)
    for round_index in range(first, last):
        run(learners, results, round_index, round_index + 1)
        if round_index == 2:  # saving in the middle of a run must not change it
            save_checkpoint(out + ".ckpt", learners, results)
    results.save(out + f"_{first}.json")
""")


def rounds_in_new_process(tmp_path, first, last):
    script = tmp_path / "run.py"
    script.write_text(RUN)
    args = [sys.executable, str(script), str(first), str(last), str(tmp_path / "run"),
            str(Path(__file__).parent)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return Results.load(tmp_path / f"run_{first}.json")


def test_plain_dataloaders_resume_in_a_new_process_exactly(tmp_path):
    in_one_go = rounds_in_new_process(tmp_path, 0, 6)  # saves a checkpoint after 3 rounds
    resumed = rounds_in_new_process(tmp_path, 3, 6)
    assert len(resumed) == 7 and resumed.data == in_one_go.data
    assert 0 < in_one_go.n_accepted < 6, "the runs must be non-trivial"


def test_a_plain_dataloader_saves_torchs_global_rng_instead_of_a_generator(tmp_path):
    torch.manual_seed(0)
    learners = make_user_learners(2)
    assert learners[0].train_loader.generator is None
    save_checkpoint(tmp_path / "plain.ckpt", learners, Results())
    assert learners[0].state_dict()["loaders"] == {}


# -- defect 4: tied parameters -----------------------------------------------------------------------
def test_tied_parameters_accept_exactly_the_tested_proposal():
    torch.manual_seed(0)
    learner = make_user_learners(2, model_class=TiedNet)[0]
    tied_before = learner.model.first.weight.detach().clone()
    proposal = learner.mli_propose_weights()
    assert proposal.weights["first.weight"] is proposal.weights["second.weight"], "the copy keeps the tie"
    scored = learner.mli_test_weights(proposal)
    learner.mli_accept_weights(proposal)
    assert same(weights_of(learner), proposal.weights)
    assert not torch.equal(learner.model.first.weight, tied_before), "the shared weight must change"
    assert learner.model.second.weight is learner.model.first.weight
    assert learner.vote_score == scored.vote_score == learner.test(learner.vote_loader)


def test_tied_parameters_change_over_accepted_rounds_and_every_learner_holds_the_same_weights():
    torch.manual_seed(0)
    learners = make_user_learners(3, model_class=TiedNet)
    for learner in learners[1:]:
        learner.mli_accept_weights(learners[0].mli_get_current_weights())
    start = weights_of(learners[1])
    results = run(learners, Results([initial_result(learners)]), 0, 4)
    assert results.n_accepted > 0
    assert all(same(weights_of(learner), weights_of(learners[0])) for learner in learners)
    assert not torch.equal(learners[1].model.second.weight, start["second.weight"])
    assert all(learner.vote_score == learner.test(learner.vote_loader) for learner in learners)


def test_untied_copies_of_a_tied_weight_load_as_the_model_tests_them():
    torch.manual_seed(0)
    learner = make_user_learners(2, model_class=TiedNet)[0]
    # e.g. sent over a network: the tie is lost
    untied = {k: v.clone() for k, v in learner.mli_propose_weights().weights.items()}
    untied["second.weight"] = untied["second.weight"] + 1.0  # a stale or odd alias: the first name wins
    scored = learner.mli_test_weights(Weights(weights=untied))
    learner.mli_accept_weights(Weights(weights=untied))
    assert torch.equal(learner.model.second.weight, untied["first.weight"])
    assert learner.vote_score == scored.vote_score == learner.test(learner.vote_loader)


# -- defect 5: schedulers, optimizer types and layouts -------------------------------------------------
def test_a_scheduler_steps_once_per_proposal_and_resumes_from_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    whole = make_user_learners(scheduler=True)
    in_one_go = run(whole, Results([initial_result(whole)]), 0, 6)
    assert whole[0].scheduler.last_epoch == 2, "learner 0 proposed in rounds 0 and 3"
    assert whole[0].optimizer.param_groups[0]["lr"] == pytest.approx(0.02 * 0.7 ** 2)
    torch.manual_seed(0)
    first = make_user_learners(scheduler=True)
    save_checkpoint(tmp_path / "s.ckpt", first, run(first, Results([initial_result(first)]), 0, 3))
    torch.manual_seed(0)  # the same split and initial weights
    second = make_user_learners(scheduler=True)
    torch.manual_seed(123)  # the checkpoint restores torch's RNG, which the DataLoaders shuffle with
    resumed = run(second, load_checkpoint(tmp_path / "s.ckpt", second), 3, 6)
    assert second[0].scheduler.last_epoch == 2 and resumed.data == in_one_go.data


def test_a_scheduler_of_another_optimizer_or_a_plateau_scheduler_is_refused():
    model = Net()
    optimizer, other = (torch.optim.SGD(model.parameters(), lr=0.1) for _ in range(2))
    loader = DataLoader(dataset(16), batch_size=8)
    options = dict(model=model, optimizer=optimizer, train_loader=loader, vote_loader=loader,
                   criterion=nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="scheduler: got a scheduler of another optimizer"):
        PytorchLearner(**options, scheduler=torch.optim.lr_scheduler.StepLR(other, step_size=1))
    with pytest.raises(ValueError, match="scheduler: got ReduceLROnPlateau; expected"):
        PytorchLearner(**options, scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer))


def assert_refused_and_unchanged(path, learners, match):
    before = [(weights_of(learner), str(learner.optimizer.state_dict()), learner.vote_score)
              for learner in learners]
    with pytest.raises(ValueError, match=match):
        load_checkpoint(path, learners)
    for learner, (weights, optimizer, vote_score) in zip(learners, before, strict=True):
        assert same(weights_of(learner), weights) and learner.vote_score == vote_score
        assert str(learner.optimizer.state_dict()) == optimizer


def test_an_adam_checkpoint_is_refused_by_sgd_learners_before_anything_loads(tmp_path):
    torch.manual_seed(0)
    adam = make_user_learners(2)
    run(adam, Results(), 0, 2)
    save_checkpoint(tmp_path / "adam.ckpt", adam, Results())
    torch.manual_seed(1)
    sgd = make_user_learners(2, optimizer="sgd")
    assert_refused_and_unchanged(tmp_path / "adam.ckpt", sgd,
                                 r"learner 0: .*optimizer type: got 'Adam' in the checkpoint; expected 'SGD'"
                                 r".*nothing was changed")


def test_another_parameter_group_layout_is_refused_naming_the_learner_and_changes_nothing(tmp_path):
    torch.manual_seed(0)
    saved = make_user_learners(2)
    run(saved, Results(), 0, 2)
    save_checkpoint(tmp_path / "one_group.ckpt", saved, Results())
    torch.manual_seed(1)
    learners = [make_user_learners(2)[0], make_user_learners(2, two_groups=True)[1]]
    assert_refused_and_unchanged(tmp_path / "one_group.ckpt", learners,
                                 r"learner 1: .*optimizer: got 1 parameter group\(s\) of \[4\] parameters in "
                                 r"the checkpoint; expected 4 parameter group\(s\).*nothing was changed")


def test_a_checkpoint_without_a_scheduler_is_refused_by_learners_with_one(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "plain.ckpt", make_user_learners(2), Results())
    learners = make_user_learners(2, scheduler=True)
    assert_refused_and_unchanged(tmp_path / "plain.ckpt", learners,
                                 r"learner 0: .*scheduler type: got None in the checkpoint; "
                                 r"expected 'StepLR'")


# -- defect 6: numpy learners' checkpoints load, arbitrary pickles never do -----------------------------
class NumpyLearner(MachineLearningInterface):
    """A least-squares learner whose weights are numpy arrays (like notebook 06's scikit-learn one)."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.x, self.coef, self.intercept = rng.normal(size=(20, 3)), rng.normal(size=3), np.zeros(1)
        self.y, self.vote_score = self.x @ np.array([1.0, -2.0, 0.5]), math.inf

    def score(self, weights):
        coef, intercept = weights
        return float(np.mean((self.x @ coef + intercept - self.y) ** 2))

    def mli_propose_weights(self):
        gradient = 2 * self.x.T @ (self.x @ self.coef + self.intercept - self.y) / len(self.y)
        return Weights(weights=(self.coef - 0.1 * gradient, self.intercept.copy()))

    def mli_test_weights(self, weights):
        score = self.score(weights.weights)
        return ProposedWeights(weights, score, score, score < self.vote_score)

    def mli_accept_weights(self, weights):
        self.coef, self.intercept = (w.copy() for w in weights.weights)
        self.vote_score = self.score(weights.weights)

    def mli_get_current_weights(self):
        return Weights(weights=(self.coef.copy(), self.intercept.copy()))

    def state_dict(self):
        return {"coef": self.coef.copy(), "intercept": self.intercept.copy(),
                "vote_score": np.float64(self.vote_score), "steps": np.int64(3)}

    def load_state_dict(self, state):
        self.coef, self.intercept = state["coef"], state["intercept"]
        self.vote_score = float(state["vote_score"])


def test_a_numpy_learners_checkpoint_loads(tmp_path):
    learners = [NumpyLearner(0), NumpyLearner(1)]
    results = run(learners, Results([initial_result(learners)]), 0, 3)
    save_checkpoint(tmp_path / "numpy.ckpt", learners, results)
    fresh = [NumpyLearner(0), NumpyLearner(1)]
    assert load_checkpoint(tmp_path / "numpy.ckpt", fresh) == results
    for old, new in zip(learners, fresh, strict=True):
        assert np.array_equal(old.coef, new.coef) and old.vote_score == new.vote_score


class Payload:
    """Runs a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["top level", "inside a numpy learner's state", "in an object array"])
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, where):
    marker = tmp_path / "ran"
    payload = Payload(marker)
    learners = [NumpyLearner(0), NumpyLearner(1)]
    states = [learner.state_dict() for learner in learners]
    if where == "top level":
        states[0] = payload
    elif where == "inside a numpy learner's state":
        states[1]["coef"] = payload
    else:
        states[1]["coef"] = np.array([payload], dtype=object)
    torch.save({"format": checkpoint.FORMAT, "learners": states, "torch_rng": torch.get_rng_state(),
                "results": "{}"}, tmp_path / "evil.ckpt")
    with pytest.raises(ValueError, match="is not a colearn_nb checkpoint"):
        load_checkpoint(tmp_path / "evil.ckpt", learners)
    assert not marker.exists(), "the payload ran"


# -- defect 7: streaming data without a length ---------------------------------------------------------
def test_dataloaders_over_an_iterable_dataset_train_vote_and_test():
    torch.manual_seed(0)
    learners = []
    for part in random_split(dataset(), [0.5, 0.5]):
        inputs, labels = (torch.stack(t) for t in zip(*part, strict=True))
        loaders = [DataLoader(Stream(inputs[a:b], labels[a:b]), batch_size=8) for a, b in
                   ((0, 72), (72, 96), (96, 120))]
        model = Net()
        learners.append(PytorchLearner(model, torch.optim.Adam(model.parameters(), lr=0.02), *loaders,
                                       criterion=nn.CrossEntropyLoss()))
    results = run(learners, Results([initial_result(learners)]), 0, 2)
    assert results.data[-1].training_summaries[0]["n_train_batches"] == 9
    assert all(math.isfinite(score) for score in results.data[-1].test_scores)


def test_an_empty_stream_is_refused_when_the_learner_is_built_naming_the_loader():
    model, empty = Net(), DataLoader(Stream(torch.zeros(0, 4), torch.zeros(0)), batch_size=8)
    full = DataLoader(Stream(torch.zeros(8, 4), torch.zeros(8, dtype=torch.long)), batch_size=8)
    for train, vote, named in ((empty, full, "train_loader"), (full, empty, "vote_loader")):
        with pytest.raises(ValueError, match=f"{named}: yielded no batches"):
            PytorchLearner(model, torch.optim.SGD(model.parameters(), lr=0.1), train, vote,
                           criterion=nn.CrossEntropyLoss())


# -- accept leaves the learner unchanged when it fails ---------------------------------------------------
class Broken:
    """A loader that fails when read."""

    def __iter__(self):
        raise RuntimeError("the disk went away")


def test_a_failed_accept_keeps_the_weights_and_vote_score():
    torch.manual_seed(0)
    learner = make_user_learners(2)[0]
    proposal = learner.mli_propose_weights()  # not tested: accept must score it on the vote loader
    before, vote_score = weights_of(learner), learner.vote_score
    learner.vote_loader = Broken()
    with pytest.raises(RuntimeError, match="the disk went away"):
        learner.mli_accept_weights(proposal)
    assert same(weights_of(learner), before) and learner.vote_score == vote_score


# -- the layout's pieces on a user's own learners: run_rounds and its callbacks, the Dashboard, plots ------
def test_run_rounds_live_plot_progress_bar_dashboard_and_plots_on_user_learners(tmp_path, capsys):
    import io

    from colearn_nb import (
        Dashboard,
        LivePlot,
        ProgressBar,
        plot_results,
        plot_votes,
        print_results,
        run_rounds,
        set_equal_weights,
    )

    torch.manual_seed(0)
    frames, text = [], io.StringIO()
    live = LivePlot(min_interval=0, max_share=1.0, on_frame=frames.append)
    results = run_rounds(make_user_learners(), 4, on_round=[live, ProgressBar(4, file=text), print_results])
    torch.manual_seed(0)
    learners = make_user_learners()
    set_equal_weights(learners)
    by_hand = run(learners, Results([initial_result(learners)]), 0, 4)
    assert results.data == by_hand.data and [r.block_proposer for r in results.data[1:]] == [0, 1, 2, 0]
    assert len(frames) == 4 and frames[-1].startswith(b"\x89PNG") and "4/4" in text.getvalue()
    assert capsys.readouterr().out.count("proposed") == 4
    assert plot_results(results).axes and plot_votes(results).axes[0].images
    results.save(tmp_path / "results.json")
    assert Results.load(tmp_path / "results.json") == results
    board = Dashboard(make_user_learners(), n_rounds=2)
    assert board.step() and board.wait(timeout=60)
    assert board.error is None and len(board.results) == 2
