"""Federated rounds in this process give what Flower 1.42's own strategies give, on users' own learners.

The reference is each strategy's own ``start()`` loop (``flwr.serverapp.strategy``), driven by a Grid whose
nodes answer with the same updates, and Flower's older aggregate functions (``flwr.server.strategy``).
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from colearn_nb import MachineLearningInterface, ProposedWeights, PytorchLearner, Weights
from colearn_nb.protocol.report import round_headline
from colearn_nb.protocol.results import Results

pytest.importorskip("flwr")
from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.serverapp import Grid  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

from colearn_nb.flower import (  # noqa: E402
    ProximalTerm,
    aggregate_updates,
    federated_round,
    make_strategy,
    run_federated,
)
from colearn_nb.protocol.round import LearnerError  # noqa: E402

N_FEATURES, N_CLASSES = 6, 3


class BatchNormNet(nn.Module):
    """A user's model with an integer buffer (BatchNorm's ``num_batches_tracked``)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(N_FEATURES, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                    nn.Linear(16, N_CLASSES))

    def forward(self, x):
        return self.layers(x)


def accuracy(outputs, labels):
    return (outputs.argmax(dim=1) == labels).float().mean().item()


def blobs(n_samples: int, seed: int) -> TensorDataset:
    """Three classes around three fixed centres: learnable in a few rounds."""
    generator = torch.Generator().manual_seed(seed)
    centres = 3 * torch.eye(N_CLASSES, N_FEATURES)
    labels = torch.randint(0, N_CLASSES, (n_samples,), generator=generator)
    return TensorDataset(centres[labels] + torch.randn(n_samples, N_FEATURES, generator=generator), labels)


def users_learner(i: int, n_samples: int = 96, lr: float = 0.1) -> PytorchLearner:
    """A learner as a user builds it: plain DataLoaders, their own nn.Module, SGD and cross-entropy."""
    torch.manual_seed(100 + i)
    model = BatchNormNet()
    return PytorchLearner(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=lr),
                          train_loader=DataLoader(blobs(n_samples, seed=i), batch_size=16),
                          vote_loader=DataLoader(blobs(48, seed=50 + i), batch_size=48),
                          test_loader=DataLoader(blobs(48, seed=90 + i), batch_size=48),
                          criterion=nn.CrossEntropyLoss(), vote_criterion=accuracy, minimise_criterion=False,
                          num_train_batches=3, seed=i)


def users_learners(n: int, **options) -> list[PytorchLearner]:
    learners = [users_learner(i, n_samples=48 + 16 * i, **options) for i in range(n)]
    for learner in learners[1:]:
        learner.mli_accept_weights(learners[0].mli_get_current_weights())
    return learners


@pytest.fixture(scope="module")
def updates():
    """Seven learners' proposals from one start, learner 6's flipped and scaled (an attacker)."""
    learners = users_learners(7)
    proposals = [learner.mli_propose_weights().weights for learner in learners]
    proposals[6] = {key: -5 * value if value.is_floating_point() else value
                    for key, value in proposals[6].items()}
    return proposals, [48 + 16 * i for i in range(7)], learners[0].mli_get_current_weights().weights


class ReplayGrid(Grid):
    """Flower's Grid with nodes 1..n that answer a train message with their prepared update, in node order."""

    def __init__(self, updates, num_examples):
        self.updates, self.num_examples, self.train_configs = updates, num_examples, []

    def set_run(self, run):
        pass

    @property
    def run(self):
        raise NotImplementedError

    def create_message(self, *args, **kwargs):
        raise NotImplementedError

    def get_node_ids(self):
        return list(range(1, len(self.updates) + 1))

    def push_messages(self, messages):
        raise NotImplementedError

    def pull_messages(self, message_ids):
        raise NotImplementedError

    def send_and_receive(self, messages, *, timeout=None):
        replies = []
        for message in sorted(messages, key=lambda m: m.metadata.dst_node_id):
            self.train_configs.append(dict(message.content["config"]))
            i = message.metadata.dst_node_id - 1
            content = RecordDict({"arrays": ArrayRecord(torch_state_dict=self.updates[i]),
                                  "metrics": MetricRecord({"num-examples": self.num_examples[i]})})
            replies.append(Message(content, reply_to=message))
        return replies


def flowers_own(rule: str, options: dict, updates, num_examples, start) -> tuple[dict, ReplayGrid]:
    """The aggregate of Flower's strategy ``start()`` loop for one round over a ReplayGrid, and the grid."""
    strategy = make_strategy(rule, fraction_evaluate=0.0, **options)
    grid = ReplayGrid(updates, num_examples)
    saved = TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 0  # as inside a ServerApp
    try:
        result = strategy.start(grid, ArrayRecord(torch_state_dict=start), num_rounds=1)
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved
    return dict(result.arrays.to_torch_state_dict()), grid


RULES_AND_OPTIONS = [("fedavg", {}), ("fedprox", {"proximal_mu": 0.1}), ("fedmedian", {}),
                     ("fedtrimmedavg", {"beta": 0.2}), ("krum", {"num_malicious_nodes": 1}),
                     ("multikrum", {"num_malicious_nodes": 1, "num_nodes_to_select": 3}),
                     ("bulyan", {"num_malicious_nodes": 1})]


@pytest.mark.parametrize("rule, options", RULES_AND_OPTIONS, ids=[rule for rule, _ in RULES_AND_OPTIONS])
def test_the_in_process_aggregate_is_flowers_own_bit_for_bit(updates, rule, options):
    proposals, num_examples, start = updates
    ours = aggregate_updates(make_strategy(rule, **options), proposals, num_examples).weights
    theirs, grid = flowers_own(rule, options, proposals, num_examples, start)
    assert list(ours) == list(theirs) == list(proposals[0])
    for key, tensor in ours.items():
        assert tensor.dtype == proposals[0][key].dtype  # Flower's float average of an int buffer, cast back
        assert torch.equal(tensor, theirs[key].to(tensor.dtype)), key  # bit for bit
    if rule == "fedprox":  # what Flower tells its clients is what the learners' proximal term uses
        assert {config["proximal-mu"] for config in grid.train_configs} == {0.1}


def test_robust_rules_leave_the_attacker_out_and_fedavg_does_not(updates):
    proposals, num_examples, _ = updates
    weight = "layers.0.weight"
    honest = torch.stack([p[weight] for p in proposals[:6]])
    low, high = honest.min(dim=0).values, honest.max(dim=0).values
    for rule, options in RULES_AND_OPTIONS:
        aggregate = aggregate_updates(make_strategy(rule, **options), proposals, num_examples).weights[weight]
        within = bool(((aggregate >= low - 1e-6) & (aggregate <= high + 1e-6)).all())
        assert within == (rule not in ("fedavg", "fedprox")), rule
    krum = aggregate_updates(make_strategy("krum", num_malicious_nodes=1), proposals, num_examples).weights
    assert any(all(torch.equal(krum[key], p[key]) for key in krum) for p in proposals[:6])  # an honest one


def test_flowers_older_aggregate_functions_agree(updates):
    from flwr.server.strategy import aggregate as older_functions

    proposals, num_examples, _ = updates
    keys = [key for key, value in proposals[0].items() if value.is_floating_point()]
    results = [([p[key].numpy() for key in keys], n) for p, n in zip(proposals, num_examples, strict=True)]
    older = {"fedavg": older_functions.aggregate(results),
             "fedmedian": older_functions.aggregate_median(results),
             "fedtrimmedavg": older_functions.aggregate_trimmed_avg(results, 0.2),
             "krum": older_functions.aggregate_krum(results, num_malicious=1, to_keep=0)}
    options = {"fedtrimmedavg": {"beta": 0.2}, "krum": {"num_malicious_nodes": 1}}
    for rule, arrays in older.items():
        strategy = make_strategy(rule, **options.get(rule, {}))
        ours = aggregate_updates(strategy, proposals, num_examples).weights
        for key, array in zip(keys, arrays, strict=True):
            if rule == "fedavg":  # sum(w * n) / total there, sum(w * (n / total)) in the strategy
                torch.testing.assert_close(ours[key], torch.from_numpy(array), rtol=1e-6, atol=1e-7)
            else:
                assert torch.equal(ours[key], torch.from_numpy(array)), (rule, key)


def test_run_federated_is_one_strategy_round_on_the_learners_proposals():
    learners, twins = users_learners(3), users_learners(3)  # the same learners, built twice
    proposals = [twin.mli_propose_weights().weights for twin in twins]
    start = twins[0].mli_get_current_weights().weights
    expected, _ = flowers_own("fedavg", {}, proposals, [48, 64, 80], start)
    results = run_federated(learners, n_rounds=1)
    for learner in learners:
        held = learner.mli_get_current_weights().weights
        assert all(torch.equal(held[key], expected[key].to(held[key].dtype)) for key in held)
    assert [s["n_train_batches"] for s in results.data[1].training_summaries] == [3, 3, 3]


def test_learners_learn_and_results_are_the_kits():
    learners = users_learners(3)
    seen = []
    results = run_federated(learners, n_rounds=6, rule="fedmedian", on_round=lambda r: seen.append(len(r)))
    assert seen == [2, 3, 4, 5, 6, 7] and len(results) == 7
    last = results.data[-1]
    assert last.vote is True and last.votes == [None] * 3 and last.block_proposer is None
    assert round_headline(results) == "Round 5: every learner trained and took the aggregate (no vote)"
    assert results.n_accepted == 0  # nobody proposed alone: no vote took place
    assert results.shared_model_scores[-1] > results.shared_model_scores[0] + 0.3
    assert len(set(map(tuple, [r.test_scores for r in results.data[1:]]))) > 1  # scores move round by round
    again = Results.from_dict(results.to_dict())
    assert again.data[-1].votes == [None] * 3 and again.h_test_scores == results.h_test_scores


def sgd_by_hand(model: nn.Module, loader, mu: float, n_batches: int, lr: float) -> dict:
    """FedProx's client training written out: cross-entropy plus mu / 2 * ||w - w_global||^2, plain SGD."""
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    for (inputs, labels), _ in zip(loader, range(n_batches), strict=False):
        optimizer.zero_grad()
        proximal = sum(((p - start[name]) ** 2).sum() for name, p in model.named_parameters())
        (nn.functional.cross_entropy(model(inputs), labels) + mu / 2 * proximal).backward()
        optimizer.step()
    return model.state_dict()


def test_fedprox_adds_the_proximal_term_to_the_learners_loss():
    learner = users_learner(0)
    by_hand = sgd_by_hand(copy.deepcopy(learner.model), learner.train_loader, mu=2.0, n_batches=3, lr=0.1)
    strategy = make_strategy("fedprox", proximal_mu=2.0)
    twin = users_learner(0)
    run_federated([learner, twin], n_rounds=1, rule=strategy, num_examples=[1, 1])
    assert learner.extra_loss is None  # put back after the round
    # both learners trained alike (same data, same seed): the aggregate is each one's proposal
    held = learner.mli_get_current_weights().weights
    for key, value in by_hand.items():
        torch.testing.assert_close(held[key], value, rtol=1e-5, atol=1e-6)


def test_a_larger_mu_keeps_the_update_closer_to_the_shared_weights():
    def distance(mu):
        learners = users_learners(2, lr=0.5)
        start = learners[0].mli_get_current_weights().weights
        run_federated(learners, n_rounds=1, rule="fedprox", proximal_mu=mu)
        held = learners[0].mli_get_current_weights().weights
        return sum(((held[k] - start[k]) ** 2).sum().item() for k in start if start[k].is_floating_point())

    far, nearer, nearest = distance(0.0), distance(1.0), distance(2.0)
    assert nearest < 0.9 * nearer < 0.9 * 0.9 * far


def test_the_proximal_term_is_half_mu_times_the_squared_distance_to_the_shared_weights():
    linear = nn.Linear(N_FEATURES, 16)
    nn.init.constant_(linear.weight, 0.5)
    term = ProximalTerm(4.0, {"weight": torch.zeros(16, N_FEATURES), "bias": linear.bias.detach() + 2})
    assert term(linear).item() == pytest.approx(4.0 / 2 * (16 * N_FEATURES * 0.25 + 16 * 4))
    term(linear).backward()
    torch.testing.assert_close(linear.bias.grad, torch.full((16,), 4.0 * -2))  # mu * (w - w_global)


def weights_of(learners):
    return [learner.mli_get_current_weights().weights for learner in learners]


def same(a, b):
    return all(torch.equal(x[key], y[key]) for x, y in zip(a, b, strict=True) for key in x)


@pytest.mark.parametrize("call, message", [
    (lambda ls: run_federated(ls, 1, rule="fedsomething"), r"^rule: got 'fedsomething'; expected one of "),
    (lambda ls: run_federated(ls, 1, rule="fedtrimmedavg", trim=0.1),
     r"^trim: not an option of Flower's FedTrimmedAvg; expected one of"),
    (lambda ls: run_federated(ls, 1, rule="bulyan", num_malicious_nodes=1),
     r"^learners: got 3; Bulyan with num_malicious_nodes=1 needs at least 7"),
    (lambda ls: run_federated(ls, 1, num_examples=[1, 2]), r"^num_examples: got 2 numbers for 3 learners"),
    (lambda ls: run_federated(ls, 1, num_examples=[1, 0, 2]),
     r"^num_examples\[1\]: got 0; expected an integer >= 1"),
    (lambda ls: run_federated(ls, 1, rule=object()), r"^rule: got <object object"),
])
def test_bad_input_is_refused_before_any_learner_trains(call, message):
    learners = users_learners(3)
    before = weights_of(learners)
    with pytest.raises(ValueError, match=message):
        call(learners)
    assert same(weights_of(learners), before) and [ls.stream.n_proposals for ls in learners] == [0, 0, 0]


class PlainLearner(MachineLearningInterface):
    """A learner of one's own without a PyTorch loss to add a term to (it trains by averaging labels)."""

    def __init__(self):
        self.weights = {"w": torch.zeros(2)}

    def mli_propose_weights(self):
        return Weights(weights={"w": self.weights["w"] + 1}, training_summary={"n_train_batches": 1})

    def mli_test_weights(self, weights):
        score = float(weights.weights["w"][0])
        return ProposedWeights(weights=weights, vote_score=0.0, test_score=score, vote=None)

    def mli_accept_weights(self, weights):
        self.weights = {"w": weights.weights["w"].clone()}

    def mli_get_current_weights(self):
        return Weights(weights={"w": self.weights["w"].clone()})


def test_a_learner_of_ones_own_runs_fedavg_but_not_fedprox():
    learners = [PlainLearner(), PlainLearner()]
    with pytest.raises(ValueError, match=r"^num_examples: learner 0 has no train_loader"):
        run_federated(learners, 1)
    results = run_federated(learners, 2, num_examples=[1, 3])
    assert results.data[-1].test_scores == [2.0, 2.0]
    with pytest.raises(ValueError, match=r"^learners: learner 0 cannot add FedProx's proximal term"):
        run_federated(learners, 1, rule="fedprox", proximal_mu=0.1, num_examples=[1, 1])


class FailsToTrain(PytorchLearner):
    def mli_propose_weights(self):
        raise RuntimeError("out of memory")


def test_a_learner_failing_mid_round_leaves_every_learner_as_it_was():
    learners = users_learners(3)
    learners[2].__class__ = FailsToTrain
    before = weights_of(learners)
    strategy = make_strategy("fedavg")
    with pytest.raises(LearnerError, match="^learner 2 failed in round 0 while training from the shared"):
        federated_round(learners, strategy, [1, 1, 1], round_index=0)
    assert same(weights_of(learners), before)
    assert [learner.stream.n_proposals for learner in learners] == [0, 0, 0]  # proposals made were forgotten
