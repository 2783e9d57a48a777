"""Every feature on learners built the user's way (tests/user_learners.py), one configuration at a time.

Rounds and ``run_rounds``, a Dashboard step, checkpoint and resume in a new process, Flower's
ClientApp and ServerApp against the in-process run, attacks, ``on_error="abstain"``, DP and the
fair comparison. Tiny models and data: the matrix takes well under two minutes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from user_learners import (
    CONFIGS,
    N_LEARNERS,
    SPECS,
    TORCH,
    BatchNormDropout,
    Factory,
    as_sample,
    build,
    classification_data,
    regression_data,
    torch_learner,
    torch_learners,
)

from colearn_nb import (
    Dashboard,
    LearnerLoaders,
    PytorchLearner,
    RandomWeightsProposer,
    Results,
    SignFlipProposer,
    collective_learning_round,
    compare_fairly,
    initial_result,
    learner_loaders,
    run_rounds,
    save_checkpoint,
    set_equal_weights,
    split_batch,
    start_results,
    with_bad_actors,
)

N_ROUNDS, SPLIT_AT = 4, 2
NAMES = list(CONFIGS)


def leaves(weights) -> list:
    """The arrays of a weights object (dict, tuple or list of tensors or arrays), in order."""
    if isinstance(weights, dict):
        return [leaf for key in sorted(weights) for leaf in leaves(weights[key])]
    if isinstance(weights, (tuple, list)):
        return [leaf for value in weights for leaf in leaves(value)]
    return [np.asarray(weights.detach() if isinstance(weights, torch.Tensor) else weights)]


def all_hold_the_same_weights(learners) -> bool:
    first = leaves(learners[0].mli_get_current_weights().weights)
    others = [leaves(learner.mli_get_current_weights().weights) for learner in learners[1:]]
    return all(all(np.array_equal(a, b) for a, b in zip(first, other, strict=True)) for other in others)


def by_hand(learners, first: int, last: int, results: Results | None = None) -> Results:
    """The seed tutorial's loop, written out."""
    if results is None:
        set_equal_weights(learners)
        results = Results([initial_result(learners)])
    for round_index in range(first, last):
        results.data.append(collective_learning_round(learners, 0.5, round_index))
    return results


@pytest.fixture(scope="module")
def reference() -> dict[str, Results]:
    """Each configuration's rounds written out by hand, as the in-process reference."""
    return {name: by_hand(build(name), 0, N_ROUNDS) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_rounds_and_run_rounds_agree_and_every_learner_holds_the_shared_weights(name, reference):
    learners = build(name)
    results = run_rounds(learners, N_ROUNDS)
    assert results == reference[name]
    assert len(results) == N_ROUNDS + 1 and all_hold_the_same_weights(learners)
    assert json.loads(json.dumps(results.to_dict())) == results.to_dict()


@pytest.mark.parametrize("name", NAMES)
def test_a_dashboard_step_runs_one_round(name, reference):
    board = Dashboard(build(name), score_name="score")
    assert board.step() and board.wait(timeout=60) is not False
    assert board.error is None and len(board.results) == 2
    assert board.results.data[1] == reference[name].data[1]


RESUME = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from user_learners import CONFIGS, build
    from colearn_nb import collective_learning_round, load_checkpoint

    for name in sys.argv[4:]:
        learners = build(name)
        results = load_checkpoint(f"{sys.argv[2]}/{name}.ckpt", learners)
        for round_index in range(len(results) - 1, int(sys.argv[3])):
            results.data.append(collective_learning_round(learners, 0.5, round_index))
        results.save(f"{sys.argv[2]}/{name}.json")
""")


def test_checkpoint_and_resume_in_a_new_process_is_exact_for_every_learner_with_a_state(tmp_path, reference):
    """The first rounds here, the rest in a new process from the checkpoint: the Results of one run."""
    savable = [name for name in NAMES if hasattr(build(name)[0], "state_dict")]
    assert len(savable) == len(NAMES) - 1, "only the scikit-learn learner has no state_dict"
    for name in savable:
        learners = build(name)
        save_checkpoint(tmp_path / f"{name}.ckpt", learners, by_hand(learners, 0, SPLIT_AT))
    (tmp_path / "resume.py").write_text(RESUME)
    command = [sys.executable, str(tmp_path / "resume.py"), str(Path(__file__).parent), str(tmp_path),
               str(N_ROUNDS), *savable]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in savable:
        assert Results.load(tmp_path / f"{name}.json") == reference[name], name


def test_a_learner_without_state_dict_is_refused_by_save_checkpoint_saying_why(tmp_path):
    with pytest.raises(TypeError, match=r"learner 0 \(SGDLearner\) has no state_dict\(\)"):
        save_checkpoint(tmp_path / "x.ckpt", build("sklearn_sgd"), Results())


class DirectGrid:
    """Flower's ``Grid`` as ``run_colearn`` uses it, handing each message to the real ``ClientApp`` at once.

    Every node has its own ``Context`` and its own torch random state, as a process of its own has:
    before a message the node's state is put in place, afterwards it is kept for the node's next one.
    """

    def __init__(self, client_app, n_nodes: int):
        from flwr.app import Context, RecordDict

        self.run_id = uuid.uuid4().int % 2**63  # the ClientApp keeps learners per (run, partition)
        self.app, self.replies = client_app, {}
        self.contexts = {100 + 7 * i: Context(self.run_id, 100 + 7 * i, {"partition-id": i}, RecordDict(), {})
                         for i in range(n_nodes)}
        self.random_states = {node: torch.Generator().manual_seed(node).get_state() for node in self.contexts}

    def get_node_ids(self) -> list[int]:
        return list(self.contexts)

    def push_messages(self, messages) -> list[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__.update(_message_id=uuid.uuid4().hex)
            self.replies[message.metadata.message_id] = self._deliver(message)
            ids.append(message.metadata.message_id)
        return ids

    def _deliver(self, message):
        from flwr.app import Error, Message

        node, own = message.metadata.dst_node_id, torch.get_rng_state()
        torch.set_rng_state(self.random_states[node])
        try:
            return self.app(message, self.contexts[node])
        except Exception as exc:  # noqa: BLE001 (Flower turns a ClientApp's exception into an error reply)
            return Message(Error(code=0, reason=f"{type(exc).__name__}: {exc}"), reply_to=message)
        finally:
            self.random_states[node] = torch.get_rng_state()
            torch.set_rng_state(own)

    def pull_messages(self, message_ids) -> list:
        return [self.replies.pop(i) for i in list(message_ids) if i in self.replies]


@pytest.mark.parametrize("name", NAMES)
def test_flowers_clientapp_and_serverapp_give_the_in_process_results(name, reference, monkeypatch):
    pytest.importorskip("flwr")
    from flwr.supercore.task_identity import TaskIdentity

    from colearn_nb.flower import make_client_app
    from colearn_nb.flower.server import run_colearn

    grid = DirectGrid(make_client_app(Factory(name)), len(build(name)))
    monkeypatch.setattr(TaskIdentity, "_run_id", grid.run_id)  # what Flower sets in a ServerApp's process
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    torch.manual_seed(12345)  # the server's process: its random state must not matter
    assert run_colearn(grid, len(grid.contexts), N_ROUNDS, 0.5, timeout=60) == reference[name]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("attack", [RandomWeightsProposer, SignFlipProposer])
def test_attacks_wrap_the_users_learners_and_every_learner_ends_equal(name, attack):
    learners = with_bad_actors(build(name), [0], attack)
    results = run_rounds(learners, 3)
    assert [type(s) for s in results.data[1].training_summaries] == [dict]
    assert results.data[1].training_summaries[0]["attack"] is not None
    assert all_hold_the_same_weights(learners)


class FailingLoader:
    def __iter__(self):
        raise OSError("the vote data's disk is gone")


@pytest.mark.parametrize("name", NAMES)
def test_a_learner_that_fails_to_vote_abstains_and_nobody_is_left_behind(name, monkeypatch):
    learners = build(name)
    results = start_results(learners)
    if isinstance(learners[2], PytorchLearner):
        learners[2].vote_loader = FailingLoader()
    else:
        monkeypatch.setattr(learners[2], "mli_test_weights", lambda weights: 1 / 0, raising=False)
    results = run_rounds(learners, 3, results=results, on_error="abstain")
    assert [r.votes[2] for r in results.data[1:3]] == [False, False]
    assert all("learner 2 failed" in r.errors[0] for r in results.data[1:3])
    assert all_hold_the_same_weights(learners)
    if isinstance(learners[2], PytorchLearner):  # it cannot score accepted weights: no proposal can be taken
        assert not any(r.vote for r in results.data[1:])
        approved = [r for r in results.data[1:] if sum(v is True for v in r.votes) >= 1]
        assert all("while accepting" in r.errors[-1] for r in approved)


@pytest.mark.parametrize("name", ["dropout_adamw_dp"])
def test_dp_trains_the_users_model_within_its_budget(name):
    learners = build(name)
    results = run_rounds(learners, N_ROUNDS)
    budgets = [s["dp_budget"] for r in results.data[1:] for s in r.training_summaries]
    assert len(budgets) == N_ROUNDS
    assert all(0 < b["consumed_epsilon"] <= b["target_epsilon"] == 8.0 for b in budgets), budgets


def test_dp_refuses_a_model_it_cannot_train_privately_saying_why():
    pytest.importorskip("opacus")
    with pytest.raises(ValueError, match="BatchNorm"):
        torch_learners(make_model=BatchNormDropout, diff_priv=True)


def negative_mse(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    return -torch.nn.functional.mse_loss(outputs, labels).item()


@pytest.mark.parametrize("name", [n for n in TORCH if not SPECS[n].get("diff_priv")])
def test_the_fair_comparison_takes_the_users_learner_factory(name):
    """compare_fairly on the kit's split of the user's data, every learner from the user's factory."""
    spec = {key: value for key, value in SPECS[name].items()
            if key not in ("workers", "drop_last", "stream", "samples")}
    if SPECS[name].get("samples"):  # the kit gives (inputs, labels): read as the model takes them
        kind = SPECS[name]["samples"]
        spec["inputs_targets"] = lambda batch: split_batch(as_sample(*batch, kind))
    regression = spec.get("regression", False)
    data = regression_data() if regression else classification_data()
    loaders = learner_loaders(data, regression_data(1) if regression else classification_data(1), N_LEARNERS,
                              batch_size=8)
    comparison = compare_fairly(loaders, n_rounds=3, seed=0, metric=negative_mse if regression else None,
                                make_learner=lambda train, vote: torch_learner(train, vote, **spec))
    finals = comparison.final()
    assert {"collective", "alone", "pooled"} <= finals.keys() and all(np.isfinite(list(finals.values())))
    assert comparison.n_rounds == 3


def test_flowers_simulation_engine_reproduces_dropout_batchnorm_and_plain_dataloaders(reference, monkeypatch,
                                                                                       tmp_path):
    """The same, on Flower's simulation engine (Ray): every learner in a worker process of its own."""
    pytest.importorskip("flwr")
    from colearn_nb.flower import run_flower_simulation
    from colearn_nb.flower.environment import QUIET_ENVIRONMENT

    monkeypatch.setenv("FLWR_HOME", str(tmp_path))
    for key, value in QUIET_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    tests = str(Path(__file__).parent)  # the worker processes import user_learners from here
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])))
    name = "batchnorm_dropout_sgd"
    results = run_flower_simulation(Factory(name), N_LEARNERS, N_ROUNDS, 0.5, num_cpus_per_learner=1,
                                    timeout=240)
    assert results == reference[name]


def test_the_fair_comparison_refuses_plain_dataloaders_saying_what_to_pass():
    learners = build("mlp_adam")
    parts = [LearnerLoaders(each.train_loader, each.vote_loader, each.test_loader) for each in learners]
    with pytest.raises(ValueError, match=r"loaders: learner 0's train loader is a DataLoader; expected the "
                                         r"kit's loaders, e.g. learner_loaders\("):
        compare_fairly(parts, n_rounds=2, make_learner=lambda train, vote: torch_learner(train, vote))
