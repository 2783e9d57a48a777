"""Differential privacy: budget accounting, clipping, refusal when the budget is spent, clear errors."""
import sys

import pytest
import torch
from conftest import make_learner

from colearn_nb import (
    DiffPrivConfig,
    TensorLoader,
    collective_learning_round,
    format_budget,
    opacus_available,
    set_equal_weights,
)
from colearn_nb.protocol.results import DP_BUDGET_EXCEEDED
from colearn_nb.pytorch.privacy import PrivateTraining

needs_opacus = pytest.mark.skipif(not opacus_available(),
                                  reason="opacus is not installed (pip install opacus)")


def update_norm(before, after):
    return torch.sqrt(sum(((after[k] - before[k]) ** 2).sum() for k in before)).item()


@pytest.mark.parametrize("field, value", [("target_epsilon", 0), ("target_delta", 1.5),
                                          ("max_grad_norm", -1.0), ("noise_multiplier", float("nan")),
                                          ("target_epsilon", "5")])
def test_config_refuses_bad_values_naming_the_field(field, value):
    options = dict(target_epsilon=5.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=1.0)
    options[field] = value
    with pytest.raises(ValueError, match=f"{field}: got {value!r}"):
        DiffPrivConfig(**options)


def test_without_opacus_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", None)  # makes `import opacus` fail
    config = DiffPrivConfig(target_epsilon=5.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=1.0)
    with pytest.raises(ImportError, match="diff_priv_config: .*pip install opacus"):
        make_learner(diff_priv_config=config)


@needs_opacus
def test_opacus_poisson_loader_samples_each_sample_at_the_rate():
    model = torch.nn.Linear(1, 2)
    loader = TensorLoader(torch.arange(1000.0).reshape(-1, 1), torch.arange(1000) % 2, batch_size=100)
    config = DiffPrivConfig(target_epsilon=5.0, target_delta=1e-5, noise_multiplier=1.0)
    training = PrivateTraining(model, torch.optim.SGD(model.parameters(), lr=0.1), loader, config, seed=0)
    sizes = [len(labels) for _, labels in training.loader]
    assert training.sample_rate == 0.1 and len(sizes) == 10 and all(60 < size < 140 for size in sizes)
    assert len(set(sizes)) > 1, "Poisson sampling: batch sizes vary"


@needs_opacus
def test_gradients_are_clipped_per_sample():
    """With SGD at lr 1, one batch moves the weights by at most about max_grad_norm (plus a little noise)."""
    max_grad_norm = 1e-3
    config = DiffPrivConfig(target_epsilon=1e6, target_delta=1e-5, max_grad_norm=max_grad_norm,
                            noise_multiplier=0.5)
    for private in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        learner = make_learner(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
                               num_train_batches=1, diff_priv_config=config if private else None)
        before = learner.mli_get_current_weights().weights
        proposal = learner.mli_propose_weights()
        norm = update_norm(before, proposal.weights)
        if private:
            assert 0 < norm < 2 * max_grad_norm
        else:
            assert norm > 20 * max_grad_norm


@needs_opacus
def test_budget_grows_then_the_learner_refuses_and_proposes_its_weights_unchanged():
    torch.manual_seed(0)
    config = DiffPrivConfig(target_epsilon=3.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=2.0)
    # 4 batches per proposal: epsilon 1.6, 2.1, 2.5, 2.8, then > 3
    learner = make_learner(diff_priv_config=config)
    spent = []
    for _ in range(40):
        current = learner.mli_get_current_weights().weights
        proposal = learner.mli_propose_weights()
        budget = proposal.training_summary["dp_budget"]
        assert budget["target_epsilon"] == 3.0 and budget["target_delta"] == 1e-5
        assert budget["consumed_epsilon"] <= 3.0
        if proposal.training_summary.get("error_code") == DP_BUDGET_EXCEEDED:
            break
        assert budget["consumed_delta"] == 1e-5
        spent.append(budget["consumed_epsilon"])
        learner.mli_accept_weights(proposal)
    else:
        pytest.fail("the budget was never used up")
    assert len(spent) == 4 and spent == sorted(spent) and spent[0] > 0
    assert all(torch.equal(proposal.weights[k], current[k]) for k in current)
    assert "proposing the current weights unchanged" in proposal.training_summary["message"]
    assert budget["consumed_epsilon"] == spent[-1]
    assert learner.mli_propose_weights().training_summary["error_code"] == DP_BUDGET_EXCEEDED
    assert "DP_BUDGET_EXCEEDED" in format_budget(proposal.training_summary)


@needs_opacus
def test_rounds_carry_the_proposers_budget_and_private_learners_share_weights_with_plain_ones():
    torch.manual_seed(0)
    config = DiffPrivConfig(target_epsilon=10.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=1.0)
    learners = [make_learner(seed=i, diff_priv_config=config if i < 2 else None) for i in range(3)]
    set_equal_weights(learners)  # private learners keep the plain model's parameter names
    summaries = [collective_learning_round(learners, 0.5, r).training_summaries[0] for r in range(3)]
    assert [("dp_budget" in s) for s in summaries] == [True, True, False]
    assert 0 < summaries[0]["dp_budget"]["consumed_epsilon"] < 10.0


@needs_opacus
def test_a_checkpoint_keeps_the_epsilon_already_spent(tmp_path):
    from colearn_nb import Results, load_checkpoint, save_checkpoint

    config = DiffPrivConfig(target_epsilon=50.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=1.0)
    torch.manual_seed(0)
    learners = [make_learner(diff_priv_config=config), make_learner(seed=1, diff_priv_config=config)]
    learners[0].mli_propose_weights()
    spent = learners[0].privacy.epsilon()
    assert spent > 0
    save_checkpoint(tmp_path / "dp.ckpt", learners, Results())
    torch.manual_seed(0)
    fresh = [make_learner(diff_priv_config=config), make_learner(seed=1, diff_priv_config=config)]
    assert fresh[0].privacy.epsilon() == 0
    load_checkpoint(tmp_path / "dp.ckpt", fresh)
    assert fresh[0].privacy.epsilon() == pytest.approx(spent) and fresh[1].privacy.epsilon() == 0


def private_learner_from_plain_loaders(max_physical_batch_size):
    """A user's own model, SGD and plain DataLoaders, private with pieces of ``max_physical_batch_size``."""
    from torch.utils.data import DataLoader, TensorDataset

    from colearn_nb import PytorchLearner

    torch.manual_seed(0)
    inputs, labels = torch.randn(256, 20), torch.randint(0, 3, (256,))
    model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3),
                                torch.nn.LogSoftmax(dim=1))
    config = DiffPrivConfig(target_epsilon=50.0, target_delta=1e-5, noise_multiplier=1.0,
                            max_physical_batch_size=max_physical_batch_size)
    data = TensorDataset(inputs, labels)
    learner = PytorchLearner(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
                             train_loader=DataLoader(data, batch_size=64, shuffle=True),
                             vote_loader=DataLoader(data, batch_size=64), criterion=torch.nn.NLLLoss(),
                             num_train_batches=3, diff_priv_config=config, seed=1)
    seen = []  # the batch sizes the model trains on
    model[0].register_forward_hook(lambda module, args, out: seen.append(len(args[0])) if module.training
                                   else None)
    return learner, seen


@needs_opacus
def test_physical_pieces_bound_the_batch_opacus_sees_and_keep_the_update_and_the_accounting():
    """Pieces of 8 give the whole batch's update (float rounding aside), its noise and its epsilon."""
    whole, whole_seen = private_learner_from_plain_loaders(None)
    pieces, pieces_seen = private_learner_from_plain_loaders(8)
    proposals = [learner.mli_propose_weights() for learner in (whole, pieces)]
    assert max(whole_seen) > 8 and max(pieces_seen) <= 8 and sum(pieces_seen) == sum(whole_seen)
    for key, tensor in proposals[0].weights.items():
        torch.testing.assert_close(proposals[1].weights[key], tensor, rtol=1e-5, atol=1e-6)
    summaries = [proposal.training_summary for proposal in proposals]
    assert summaries[0]["n_train_batches"] == summaries[1]["n_train_batches"] == 3
    assert abs(summaries[0]["mean_train_loss"] - summaries[1]["mean_train_loss"]) < 1e-5
    assert whole.privacy.accountant.history == pieces.privacy.accountant.history == [(1.0, 0.25, 3)]


def test_max_physical_batch_size_must_be_a_positive_whole_number():
    with pytest.raises(ValueError, match="max_physical_batch_size: got 0"):
        DiffPrivConfig(target_epsilon=5.0, target_delta=1e-5, noise_multiplier=1.0, max_physical_batch_size=0)
