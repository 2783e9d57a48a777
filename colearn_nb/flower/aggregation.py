"""Federated rounds in this process, aggregated by Flower's own strategies (FedAvg, FedMedian, Krum, ...).

Each round every learner trains from the shared weights for one proposal's budget
(``mli_propose_weights``); the updates go to the Flower strategy as reply ``Message``s, as they would
reach a ServerApp, and its ``aggregate_train`` makes the aggregate, which every learner takes (all of
them or none). Nothing here rewrites a rule: FedAvg, FedProx, FedMedian, FedTrimmedAvg, Krum, MultiKrum
and Bulyan are ``flwr.serverapp.strategy``'s classes of the pinned Flower (1.42.0). FedProx adds its
proximal term on the learners' side (``ProximalTerm``, through ``PytorchLearner.extra_loss``).
Needs ``flwr`` when it runs, not when imported. Taught in notebook 11.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from inspect import signature
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..protocol.checks import check_int, check_n_learners, check_n_rounds
from ..protocol.interface import MachineLearningInterface, Weights
from ..protocol.loop import OnRound, _callbacks, start_results
from ..protocol.results import Result, Results
from ..protocol.round import accept_everywhere, blame
from ..pytorch.learner import PytorchLearner
from .environment import quiet_flower_environment, require_flwr
from .records import record_to_weights, weights_to_record

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, Message
    from flwr.serverapp.strategy import Strategy

# each rule's name and its class in flwr.serverapp.strategy
RULES = {"fedavg": "FedAvg", "fedprox": "FedProx", "fedmedian": "FedMedian", "fedtrimmedavg": "FedTrimmedAvg",
         "krum": "Krum", "multikrum": "MultiKrum", "bulyan": "Bulyan"}


@contextmanager
def _flower_logs_quiet() -> Iterator[None]:
    """Flower's INFO lines (one per aggregation) off inside the block; its warnings stay."""
    logger = logging.getLogger("flwr")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def make_strategy(rule: str, **options: Any) -> Strategy:
    """Flower's strategy for ``rule`` (a key of ``RULES``), built with Flower's own keyword ``options``.

    >>> strategy = make_strategy("fedtrimmedavg", beta=0.2)
    >>> type(strategy).__name__, strategy.beta
    ('FedTrimmedAvg', 0.2)
    """
    if rule not in RULES:
        raise ValueError(f"rule: got {rule!r}; expected one of {', '.join(RULES)}, or a Flower strategy "
                         "object (from flwr.serverapp.strategy)")
    quiet_flower_environment()
    require_flwr()
    import flwr.serverapp.strategy as strategies

    kind = getattr(strategies, RULES[rule])
    known = [name for name in signature(kind).parameters if name != "self"]
    for name in options:
        if name not in known:
            raise ValueError(f"{name}: not an option of Flower's {kind.__name__}; expected one of "
                             f"{', '.join(known)}")
    with _flower_logs_quiet():
        return kind(**options)


class ProximalTerm:
    """FedProx's loss term on a learner, ``mu / 2 * ||w - w_global||^2`` summed over the model's parameters.

    Squared, as in the FedProx paper (Li et al. 2020, eq. 2); the example in Flower 1.42's ``FedProx``
    docstring sums unsquared norms. ``global_weights`` are the shared weights the round started from.
    """

    def __init__(self, mu: float, global_weights: dict[str, torch.Tensor]) -> None:
        self.mu = mu
        self.global_weights = {name: tensor.detach().clone() for name, tensor in global_weights.items()}

    def __call__(self, model: torch.nn.Module) -> torch.Tensor:
        """The term for ``model``'s current parameters (differentiable)."""
        squares = [((p - self.global_weights[name].to(p.device)) ** 2).sum()
                   for name, p in model.named_parameters() if p.requires_grad]
        return self.mu / 2 * torch.stack(squares).sum()


def _reply(arrays: ArrayRecord, n_examples: int, weighted_by_key: str, node_id: int,
           server_round: int) -> Message:
    """A train reply from node ``node_id``, as a ClientApp sends it: the arrays and its number of examples.

    Built as Flower rebuilds a message it received (``make_message``), so no run needs to be going on.
    """
    from flwr.app import DEFAULT_TTL, MessageType, Metadata, MetricRecord, RecordDict
    from flwr.app.message import make_message

    content = RecordDict({"arrays": arrays, "metrics": MetricRecord({weighted_by_key: n_examples})})
    metadata = Metadata(run_id=0, message_id=f"{server_round}.{node_id}", src_node_id=node_id, dst_node_id=0,
                        reply_to_message_id="", group_id=str(server_round), created_at=time.time(),
                        ttl=DEFAULT_TTL, message_type=MessageType.TRAIN)
    return make_message(metadata, content)


def _as_the_updates(arrays: ArrayRecord, like: Any) -> Weights:
    """The aggregate in the form and dtypes of the updates (an average of integer buffers is cast back)."""
    weights = record_to_weights(arrays, like).weights
    if isinstance(like, dict):
        return Weights(weights={key: tensor.to(like[key].dtype) for key, tensor in weights.items()})
    return Weights(weights=[np.asarray(array, dtype=own.dtype)
                            for array, own in zip(weights, like, strict=True)])


def aggregate_updates(strategy: Strategy, updates: Sequence[Any], num_examples: Sequence[int],
                      server_round: int = 1) -> Weights:
    """The aggregate that Flower's ``strategy.aggregate_train`` makes of ``updates`` (state dicts or arrays).

    >>> import torch
    >>> updates = [{"w": torch.tensor([1.0, 4.0])}, {"w": torch.tensor([3.0, 0.0])}]
    >>> aggregate_updates(make_strategy("fedavg"), updates, num_examples=[1, 3]).weights
    {'w': tensor([2.5000, 1.0000])}
    """
    key = getattr(strategy, "weighted_by_key", "num-examples")
    replies = [_reply(weights_to_record(Weights(weights=update)), int(n), key, node_id, server_round)
               for node_id, (update, n) in enumerate(zip(updates, num_examples, strict=True), start=1)]
    with _flower_logs_quiet():
        arrays, _ = strategy.aggregate_train(server_round, replies)
    if arrays is None:
        raise ValueError(f"strategy: {type(strategy).__name__} aggregated nothing from {len(updates)} "
                         "updates (Flower's log says why); no learner was changed")
    return _as_the_updates(arrays, updates[0])


def _n_examples(learner: MachineLearningInterface, learner_index: int) -> int:
    """The size of a learner's training data: its train loader's dataset (or the kit's loader's labels)."""
    loader = getattr(learner, "train_loader", None)
    data = getattr(loader, "dataset", getattr(loader, "labels", None))
    if not hasattr(data, "__len__"):
        raise ValueError(f"num_examples: learner {learner_index} has no train_loader whose data has a "
                         "length; pass num_examples, one number of training examples per learner")
    return len(data)  # type: ignore[arg-type]


def _check_num_examples(learners: Sequence[MachineLearningInterface],
                        num_examples: Sequence[int] | None) -> list[int]:
    if num_examples is None:
        return [_n_examples(learner, i) for i, learner in enumerate(learners)]
    if len(num_examples) != len(learners):
        raise ValueError(f"num_examples: got {len(num_examples)} numbers for {len(learners)} learners; "
                         "expected one number of training examples per learner")
    return [check_int(f"num_examples[{i}]", n, minimum=1) for i, n in enumerate(num_examples)]


def _check_strategy(strategy: Strategy, learners: Sequence[MachineLearningInterface]) -> float:
    """Refuse what Flower would skip or what cannot train; returns FedProx's ``proximal_mu`` (else 0)."""
    if not callable(getattr(strategy, "aggregate_train", None)):
        raise ValueError(f"rule: got {strategy!r}; expected a rule's name ({', '.join(RULES)}) or a Flower "
                         "strategy object (from flwr.serverapp.strategy)")
    malicious = getattr(strategy, "num_malicious_nodes", 0)
    needed = 4 * malicious + 3 if type(strategy).__name__ == "Bulyan" else 1
    if len(learners) < needed:
        raise ValueError(f"learners: got {len(learners)}; Bulyan with num_malicious_nodes={malicious} "
                         f"needs at least {needed} "
                         "(4 * num_malicious_nodes + 3): add learners or lower num_malicious_nodes")
    mu = float(getattr(strategy, "proximal_mu", 0.0))
    for i, learner in enumerate(learners):
        if mu and (not isinstance(learner, PytorchLearner) or learner.privacy is not None):
            raise ValueError(f"learners: learner {i} cannot add FedProx's proximal term (it needs a "
                             "PytorchLearner without DP-SGD); use rule='fedavg' or proximal_mu=0")
    return mu


def _propose(learner: MachineLearningInterface, proximal_mu: float) -> Weights:
    """The learner's proposal, with FedProx's proximal term added to its loss when ``proximal_mu`` > 0."""
    if not proximal_mu or not isinstance(learner, PytorchLearner):
        return learner.mli_propose_weights()
    own = learner.extra_loss
    term = ProximalTerm(proximal_mu, learner.mli_get_current_weights().weights)
    learner.extra_loss = term if own is None else (lambda model: own(model) + term(model))
    try:
        return learner.mli_propose_weights()
    finally:
        learner.extra_loss = own


def _propose_all(learners: Sequence[MachineLearningInterface], round_index: int,
                 proximal_mu: float) -> list[Weights]:
    """Every learner's proposal; when one fails, those made are forgotten and the error names the learner."""
    proposals: list[Weights] = []
    try:
        for i, learner in enumerate(learners):
            with blame(i, round_index, "training from the shared weights"):
                proposals.append(_propose(learner, proximal_mu))
    except BaseException:
        for learner in learners[:len(proposals)]:
            learner.forget_last_proposal()
        raise
    return proposals


def federated_round(learners: Sequence[MachineLearningInterface], strategy: Strategy,
                    num_examples: Sequence[int], round_index: int) -> Result:
    """One round: every learner trains from the shared weights, ``strategy`` aggregates, all take that.

    The ``Result`` holds each learner's scores of the aggregate, every training summary, ``vote`` True (all
    took it), no votes and ``block_proposer`` None (nobody proposed alone).
    """
    proposals = _propose_all(learners, round_index, _check_strategy(strategy, learners))
    try:
        aggregate = aggregate_updates(strategy, [p.weights for p in proposals], num_examples, round_index + 1)
        answers = []
        for i, learner in enumerate(learners):
            with blame(i, round_index, "scoring the aggregate"):
                answers.append(learner.mli_test_weights(aggregate))
        accept_everywhere(learners, aggregate, round_index)
    except BaseException:
        for learner in learners:
            learner.forget_last_proposal()
        raise
    return Result(vote=True, votes=[None] * len(learners), vote_scores=[a.vote_score for a in answers],
                  test_scores=[a.test_score for a in answers],
                  training_summaries=[p.training_summary for p in proposals], block_proposer=None)


def run_federated(learners: Sequence[MachineLearningInterface], n_rounds: int,
                  rule: str | Strategy = "fedavg", num_examples: Sequence[int] | None = None,
                  on_round: None | OnRound | Sequence[OnRound] = None, **options: Any) -> Results:
    """Run ``n_rounds`` federated rounds aggregated by Flower's ``rule``; returns the ``Results``.

    ``rule`` is a key of ``RULES`` with Flower's own ``options`` (``proximal_mu`` for FedProx, ``beta`` for
    FedTrimmedAvg, ``num_malicious_nodes`` and ``num_nodes_to_select`` for Krum, MultiKrum and Bulyan),
    or a Flower strategy object. Learners start from learner 0's weights; each update is weighted by the
    learner's ``num_examples`` (default: the size of its train loader's data). Every learner trains
    ``num_train_batches`` per round, as for one proposal. After each round ``on_round(results)`` is called
    (one that returns ``False`` stops the run).

    >>> from colearn_nb.tutorial.factory import make_mnist_learners
    >>> results = run_federated(make_mnist_learners(n_learners=3), n_rounds=2, rule="fedmedian")
    >>> len(results), results.data[-1].votes
    (3, [None, None, None])
    """
    check_n_learners(learners)
    check_n_rounds(n_rounds)
    if isinstance(rule, str):
        strategy = make_strategy(rule, **options)
    elif options:
        raise ValueError(f"{next(iter(options))}: options go with a rule's name; set them on your strategy")
    else:
        strategy = rule
    _check_strategy(strategy, learners)
    sizes = _check_num_examples(learners, num_examples)
    callbacks = _callbacks(on_round)
    results = start_results(learners)
    for round_index in range(n_rounds):
        results.append(federated_round(learners, strategy, sizes, round_index))
        if any([callback(results) is False for callback in callbacks]):
            break
    return results
