"""The privacy budget comes first: the noise is derived from (epsilon, delta) and the planned proposals,
and the accountant measures that exactly those proposals fit in the budget."""
import pytest
import torch
from conftest import make_learner

from colearn_nb import DiffPrivConfig, opacus_available
from colearn_nb.protocol.results import DP_BUDGET_EXCEEDED

pytestmark = pytest.mark.skipif(not opacus_available(), reason="opacus is not installed (pip install opacus)")


def propose_until_refused(learner, limit=20):
    """Propose until the learner refuses; returns the epsilon spent after each proposal that trained."""
    spent = []
    for _ in range(limit):
        summary = learner.mli_propose_weights().training_summary
        if summary.get("error_code") == DP_BUDGET_EXCEEDED:
            return spent
        spent.append(learner.privacy.epsilon())
    raise AssertionError(f"still training after {limit} proposals")


@pytest.mark.parametrize("target_epsilon, planned, num_train_batches",
                         [(1.0, 3, 2), (3.0, 5, 4), (8.0, 2, None)])
def test_the_derived_noise_lasts_exactly_the_planned_proposals(target_epsilon, planned, num_train_batches):
    torch.manual_seed(0)
    config = DiffPrivConfig(target_epsilon=target_epsilon, target_delta=1e-5, planned_proposals=planned)
    learner = make_learner(diff_priv_config=config, num_train_batches=num_train_batches)
    spent = propose_until_refused(learner)
    assert len(spent) == planned, "every planned proposal fits, and no more"
    assert spent[-1] <= target_epsilon, "measured by the accountant"
    assert spent[-1] > 0.95 * target_epsilon, "the least noise that fits: the budget is used, not wasted"
    steps = planned * (num_train_batches or 4)  # 64 samples in batches of 16: 4 batches a pass
    assert sum(n for _, _, n in learner.privacy.accountant.history) == steps


def test_a_larger_budget_or_fewer_proposals_need_less_noise():
    def noise(epsilon, planned):
        config = DiffPrivConfig(target_epsilon=epsilon, target_delta=1e-5, planned_proposals=planned)
        learner = make_learner(diff_priv_config=config, num_train_batches=2)
        learner.mli_propose_weights()
        return learner.privacy.noise_multiplier

    assert noise(8.0, 4) < noise(2.0, 4) and noise(2.0, 2) < noise(2.0, 8)


def test_the_training_summary_says_which_noise_the_budget_bought():
    config = DiffPrivConfig(target_epsilon=2.0, target_delta=1e-5, planned_proposals=3)
    learner = make_learner(diff_priv_config=config, num_train_batches=2)
    budget = learner.mli_propose_weights().training_summary["dp_budget"]
    privacy = learner.privacy
    assert budget["noise_multiplier"] == privacy.noise_multiplier == privacy.optimizer.noise_multiplier
    assert 0 < budget["consumed_epsilon"] < 2.0


def test_a_given_noise_multiplier_still_works_and_the_budget_decides_the_proposals():
    config = DiffPrivConfig(target_epsilon=3.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=2.0)
    learner = make_learner(diff_priv_config=config)
    assert learner.privacy.noise_multiplier == 2.0
    assert len(propose_until_refused(learner)) == 4  # 4 batches a proposal: 1.6, 2.1, 2.5, 2.8, then > 3


@pytest.mark.parametrize("options, message", [
    (dict(noise_multiplier=1.0, planned_proposals=3), "planned_proposals: got 3 with noise_multiplier=1.0"),
    ({}, "planned_proposals: got None with noise_multiplier=None; expected one of them"),
    (dict(planned_proposals=0), "planned_proposals: got 0; expected an integer >= 1"),
    (dict(planned_proposals=2.5), "planned_proposals: got 2.5"),
])
def test_config_asks_for_the_plan_or_the_noise_not_both(options, message):
    with pytest.raises(ValueError, match=message):
        DiffPrivConfig(target_epsilon=3.0, target_delta=1e-5, **options)
