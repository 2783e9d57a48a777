"""The ClientApp: one learner per SuperNode, built by a user function from the node's ``partition-id``.

Flower rebuilds a ClientApp for every message, so the learner's state (weights, current vote
score, optimizer and shuffling state) and the proposal awaiting a decision live in
``context.state``. A learner already built in this process is reused when its state is the
one in ``context.state`` (same version), which saves rebuilding it for every message.
A node with no state for the run (its SuperNode restarted) answers a round message with an error
saying so; the server then sends it the shared weights by ``query.init``, which also drops any
proposal it still awaits a decision on.
Taught in notebook 12.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..protocol.checks import check_choice
from ..protocol.class_controls import ATTACKS
from ..protocol.interface import MachineLearningInterface, ProposedWeights, Weights
from ..protocol.weights import weights_are_finite
from .learner_events import LearnerEvent, record_event
from .records import (
    bytes_to_state,
    config_int,
    record_to_weights,
    scores_to_record,
    state_to_bytes,
    summary_to_record,
    weights_to_record,
)

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message
    from flwr.clientapp import ClientApp

LearnerFn = Callable[..., MachineLearningInterface]  # (partition_id) or (partition_id, run_config)
STATE_KEY, WEIGHTS_KEY, PENDING_KEY, PENDING_ROUND_KEY = (
    "colearn.state", "colearn.weights", "colearn.pending", "colearn.pending_round")


@dataclass
class _Built:
    """A learner built in this process, the state version it holds and the proposal it awaits."""

    learner: MachineLearningInterface
    version: int
    pending: Weights | None = None


_BUILT: dict[tuple[int, int], _Built] = {}  # (run_id, partition_id) -> learner built in this process


def require_state(context: Context, message: Message) -> None:
    """Refuse a round message on a node holding no learner state for this run (its SuperNode restarted)."""
    if context.state.get(STATE_KEY) is None:
        raise RuntimeError(f"learner {partition_id(context)}: this SuperNode has no learner state for run "
                           f"{context.run_id} (did it restart?); it needs the shared weights ('query.init') "
                           f"before '{message.metadata.message_type}'")


def partition_id(context: Context) -> int:
    """The node's ``partition-id`` from its node config: the learner's stable index."""
    value = context.node_config.get("partition-id")
    if value is None:
        raise ValueError("node config: no 'partition-id'; start the SuperNode with "
                         "--node-config 'partition-id=0 num-partitions=3' (0, 1, 2 for three learners)")
    return int(value)


class NodeLearner:
    """This node's learner for one message: restored from ``context.state``, saved back by ``save``."""

    def __init__(self, context: Context, make_learner: LearnerFn, takes_run_config: bool = False):
        self.context, self.partition_id = context, partition_id(context)
        self.key = (context.run_id, self.partition_id)
        state = context.state.config_records.get(STATE_KEY)
        self.version = config_int(state, "version") if state is not None else 0
        built = _BUILT.get(self.key) if state is not None else None  # no state: a fresh (restarted) node
        if built is None:
            args = (self.partition_id, dict(context.run_config)) if takes_run_config else (self.partition_id,)
            built = _Built(make_learner(*args), version=0)
        if built.version != self.version and state is not None:  # this process's copy is not the latest
            built.version, built.pending = self.version, None
            self._restore(built, state)
        self.built, self.learner = built, built.learner

    def _restore(self, built: _Built, state: ConfigRecord) -> None:
        """Load the saved learner state and the pending proposal into ``built``."""
        like = built.learner.mli_get_current_weights().weights
        if "learner" in state:
            cast(Any, built.learner).load_state_dict(bytes_to_state(cast(bytes, state["learner"])))
        else:
            built.learner.mli_accept_weights(record_to_weights(self.context.state.array_records[WEIGHTS_KEY],
                                                               like))
        if PENDING_KEY in self.context.state:
            built.pending = record_to_weights(self.context.state.array_records[PENDING_KEY], like)

    def apply_decision(self, config: ConfigRecord) -> None:
        """Accept (or drop) the proposal awaiting the decision that ``config`` carries."""
        decided_round, pending = config_int(config, "decided_round"), self.built.pending
        if decided_round < 0:
            return
        pending_round = (config_int(self.context.state.config_records[PENDING_ROUND_KEY], "round")
                         if pending is not None else -1)
        if pending_round == -1 and not bool(config["accepted"]):  # a rejected round it was not asked about
            return
        if pending_round != decided_round:
            raise RuntimeError(f"learner {self.partition_id}: got the decision of round {decided_round} "
                               f"but awaits one for round {pending_round}; "
                               "its state is out of step with the server")
        if bool(config["accepted"]) and pending is not None:
            self.learner.mli_accept_weights(pending)
        self.drop_pending()

    def drop_pending(self) -> None:
        """Forget the proposal awaiting a decision (decided, or replaced by the shared weights)."""
        self.built.pending = None
        for key in (PENDING_KEY, PENDING_ROUND_KEY):
            self.context.state.pop(key, None)

    def keep_pending(self, proposal: Weights, round_index: int, record: ArrayRecord | None = None) -> None:
        """Remember the proposal of ``round_index`` (and its ``ArrayRecord``, if any) until decided."""
        from flwr.app import ConfigRecord

        self.built.pending = proposal
        self.context.state[PENDING_KEY] = record if record is not None else weights_to_record(proposal)
        self.context.state[PENDING_ROUND_KEY] = ConfigRecord({"round": round_index})

    def save(self) -> None:
        """Write the learner's state into ``context.state`` and remember this process holds it."""
        from flwr.app import ConfigRecord

        self.version += 1
        state = ConfigRecord({"version": self.version})
        if hasattr(self.learner, "state_dict") and hasattr(self.learner, "load_state_dict"):
            state["learner"] = state_to_bytes(self.learner.state_dict())
        else:
            self.context.state[WEIGHTS_KEY] = weights_to_record(self.learner.mli_get_current_weights())
        self.context.state[STATE_KEY] = state
        self.built.version = self.version
        _BUILT[self.key] = self.built


def colearn_config(message: Message) -> ConfigRecord:
    """The ``colearn`` ConfigRecord of a message from the server: the round and the last decision."""
    return message.content.config_records["colearn"]


def proposer_for(learner: MachineLearningInterface, attack: str,
                 round_index: int) -> MachineLearningInterface:
    """``learner``, or notebook 09's bad actor wrapping it when the teacher told it to propose ``attack``."""
    if not attack:
        return learner
    from ..pytorch.attacks import RandomWeightsProposer, SignFlipProposer

    if check_choice("attack", attack, ATTACKS) == "garbage":
        return RandomWeightsProposer(learner, seed=round_index)
    return SignFlipProposer(learner)


def told_attack(message: Message) -> str:
    """The attack the teacher told this proposer to make (``""`` for none), from its ``train`` message."""
    return str(colearn_config(message).get("attack", ""))


def class_run_config(node_config: Mapping[str, Any]) -> dict[str, Any]:
    """The run config a class will give this node's learner, as far as its node config tells it.

    >>> class_run_config({"partition-id": 2, "num-partitions": 30})
    {'n-learners': 30}
    """
    return {"n-learners": int(node_config.get("num-partitions", int(node_config["partition-id"]) + 1))}


def prepare_learner(make_learner: LearnerFn, takes_run_config: bool, node_config: Mapping[str, Any]) -> None:
    """Build the node's learner once and drop it, so torch, its data and its model are loaded before a run.

    A ``ClientAppWorker`` calls it (as ``client_app.colearn_prepare``) when its laptop joins; a run still
    builds its own learner from the run config. With ``takes_run_config`` the run config given is
    ``class_run_config(node_config)``.
    """
    pid = int(node_config["partition-id"])
    if takes_run_config:
        make_learner(pid, class_run_config(node_config))
    else:
        make_learner(pid)


def _reply(message: Message, **records) -> Message:
    from flwr.app import Message, RecordDict

    return Message(RecordDict(records), reply_to=message)


def make_client_app(make_learner: LearnerFn, takes_run_config: bool = False,
                    prepare: Callable[[Mapping[str, Any]], None] | None = None) -> ClientApp:
    """A Flower ``ClientApp`` whose learner is ``make_learner(partition_id)``, any learner of the interface.

    With ``takes_run_config`` it is called as ``make_learner(partition_id, run_config)``.
    ``prepare(node_config)`` runs when the laptop joins, before any run (default: ``prepare_learner``, a
    learner built and dropped).

    It answers ``query.hello`` (partition id, and weights when asked), ``query.init`` (equal
    starting weights and initial scores; later, the shared weights for a learner out of sync),
    ``train`` (propose and score the proposal), ``evaluate`` (score and vote on a proposal) and
    ``query.decide``; a decision travels with the next message a learner gets. A ``train`` message naming
    an attack (the teacher's live controls) makes the proposer notebook 09's bad actor for that proposal.
    ``train``, ``evaluate`` and ``query.decide`` on a node without state for the run fail, saying so.
    """
    from flwr.clientapp import ClientApp

    app = ClientApp()
    app.colearn_prepare = prepare or (lambda node_config: prepare_learner(  # type: ignore[attr-defined]
        make_learner, takes_run_config, node_config))

    @app.query("hello")
    def hello(message: Message, context: Context) -> Message:
        from flwr.app import ConfigRecord

        node = NodeLearner(context, make_learner, takes_run_config)
        info = ConfigRecord({"partition_id": node.partition_id})
        records: dict[str, ConfigRecord | ArrayRecord] = {"info": info}
        if config_int(colearn_config(message), "weights_from") == node.partition_id:
            records["weights"] = weights_to_record(node.learner.mli_get_current_weights())
        node.save()
        return _reply(message, **records)

    @app.query("init")
    def init(message: Message, context: Context) -> Message:
        node = NodeLearner(context, make_learner, takes_run_config)
        if "weights" in message.content:
            weights = record_to_weights(message.content.array_records["weights"],
                                        node.learner.mli_get_current_weights().weights)
            node.learner.check_weights(weights)
            node.learner.mli_accept_weights(weights)
            node.drop_pending()  # a learner brought back in sync awaits no decision
        scored = node.learner.mli_test_weights(node.learner.mli_get_current_weights())
        node.save()
        return _reply(message, scores=scores_to_record(scored))

    @app.train()
    def train(message: Message, context: Context) -> Message:
        from flwr.app import ConfigRecord

        require_state(context, message)
        node = NodeLearner(context, make_learner, takes_run_config)
        node.apply_decision(colearn_config(message))
        round_index, attack = config_int(colearn_config(message), "round"), told_attack(message)
        proposal = proposer_for(node.learner, attack, round_index).mli_propose_weights()
        finite = weights_are_finite(proposal.weights)  # a diverged proposal is not tested (run_one_round)
        scored = (node.learner.mli_test_weights(proposal) if finite
                  else ProposedWeights(proposal, vote_score=math.nan, test_score=math.nan, vote=False))
        node.keep_pending(proposal, round_index)
        node.save()
        record_event(LearnerEvent(round_index, "proposed", scored.vote_score, attack=attack or None))
        return _reply(message, weights=context.state[PENDING_KEY], scores=scores_to_record(scored),
                      summary=summary_to_record(proposal.training_summary),
                      finite=ConfigRecord({"finite": finite}))

    @app.evaluate()
    def evaluate(message: Message, context: Context) -> Message:
        require_state(context, message)
        node = NodeLearner(context, make_learner, takes_run_config)
        node.apply_decision(colearn_config(message))
        record = message.content.array_records["weights"]
        proposal = record_to_weights(record, node.learner.mli_get_current_weights().weights)
        held_score = getattr(node.learner, "vote_score", math.nan)
        scored = node.learner.mli_test_weights(proposal)
        round_index = config_int(colearn_config(message), "round")
        node.keep_pending(proposal, round_index, record)
        node.save()
        record_event(LearnerEvent(round_index, "voted", scored.vote_score, bool(scored.vote), held_score))
        return _reply(message, scores=scores_to_record(scored))

    @app.query("decide")
    def decide(message: Message, context: Context) -> Message:
        require_state(context, message)
        node = NodeLearner(context, make_learner, takes_run_config)
        node.apply_decision(colearn_config(message))
        node.save()
        return _reply(message)

    return app
