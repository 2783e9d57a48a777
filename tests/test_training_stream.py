"""Each learner's training randomness comes from its own stream: proposals do not depend on the process."""
import math

import numpy as np
import pytest
import torch
from user_learners import N_LEARNERS, Dropout, LeastSquares, build, torch_learners

from colearn_nb import PytorchLearner, Results, Weights, run_rounds

N_ROUNDS = 4


def proposal(learner) -> dict:
    return learner.mli_propose_weights().weights


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_dropout_proposal_does_not_depend_on_torchs_global_random_state():
    first, second = build("batchnorm_dropout_sgd")[0], build("batchnorm_dropout_sgd")[0]
    torch.manual_seed(1)
    a = proposal(first)
    torch.manual_seed(2)
    state = torch.get_rng_state()
    b = proposal(second)
    assert same(a, b)
    assert torch.equal(torch.get_rng_state(), state), "proposing must leave torch's global state as it was"


def test_every_proposal_and_every_learner_draws_other_numbers():
    learners = build("batchnorm_dropout_sgd")
    assert len({learner.stream.seed for learner in learners}) == N_LEARNERS
    first, again = proposal(learners[0]), proposal(learners[0])
    assert not same(first, again), "a learner's second proposal must draw new Dropout masks"
    assert learners[0].stream.n_proposals == 2


def test_an_explicit_seed_gives_the_same_stream_however_the_learner_was_built():
    torch.manual_seed(0)
    a = torch_learners(make_model=Dropout, seed=5)
    torch.manual_seed(99)
    b = torch_learners(make_model=Dropout, seed=5)
    assert [each.stream.seed for each in a] == [5] * N_LEARNERS == [each.stream.seed for each in b]


def test_a_failed_training_does_not_count_as_a_proposal():
    learner = build("mlp_adam")[0]

    class Fails:
        def __iter__(self):
            raise OSError("disk gone")

    learner.train_loader = Fails()
    with pytest.raises(OSError):
        learner.mli_propose_weights()
    assert learner.stream.n_proposals == 0


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_a_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="seed: got"):
        torch_learners(seed=seed)


def test_a_checkpoint_with_a_bad_stream_changes_nothing():
    learner = build("mlp_adam")[0]
    state = learner.state_dict()
    state["training_stream"] = {"seed": -3, "n_proposals": 0}
    before = learner.mli_get_current_weights().weights
    with pytest.raises(ValueError, match="training_stream seed: got -3"):
        learner.load_state_dict(state)
    assert same(before, learner.mli_get_current_weights().weights)


class Diverges(LeastSquares):
    """Its second proposal holds a NaN: its training diverged."""

    def mli_propose_weights(self) -> Weights:
        self.proposals = getattr(self, "proposals", 0) + 1
        weights = super().mli_propose_weights()
        if self.proposals == 2:
            weights.weights[0][0] = math.nan
        return weights


def diverging_learners() -> list:
    return [Diverges(seed) for seed in range(N_LEARNERS)]


def test_a_diverged_proposal_is_rejected_untested_in_process_and_on_flower_alike(monkeypatch):
    pytest.importorskip("flwr")
    from flwr.supercore.task_identity import TaskIdentity
    from test_user_learner_matrix import DirectGrid

    from colearn_nb.flower import make_client_app
    from colearn_nb.flower.server import run_colearn

    expected = run_rounds(diverging_learners(), N_ROUNDS + N_LEARNERS)
    diverged = expected.data[1 + N_LEARNERS]  # the round of learner 0's second proposal
    assert diverged.vote is False and diverged.votes == [None, False, False] and diverged.block_proposer == 0
    assert np.isnan(diverged.vote_scores).all() and "NaN or infinite weights" in diverged.errors[0]
    grid = DirectGrid(make_client_app(lambda i: diverging_learners()[i]), N_LEARNERS)
    monkeypatch.setattr(TaskIdentity, "_run_id", grid.run_id)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    on_flower = run_colearn(grid, N_LEARNERS, N_ROUNDS + N_LEARNERS, 0.5, timeout=60)
    assert on_flower == expected and isinstance(on_flower, Results)


def test_the_stream_is_part_of_the_learners_repr_free_state():
    learner = build("mlp_adam")[0]
    assert isinstance(learner, PytorchLearner)
    assert repr(learner.stream) == f"TrainingStream(seed={learner.stream.seed}, n_proposals=0)"
