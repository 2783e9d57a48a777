"""The server's view of the learners in a deployment: their SuperNodes, who is in step, who is missing.

A learner that missed a message is out of sync until it is sent the shared weights; a SuperNode that
connects during the run under a new node id (a laptop that came back) replaces an out-of-sync learner's
node once it tells its ``partition-id``. Every learner's wait in every step is kept (``AnswerWait``).
Used by ``server.py``'s round.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .records import config_int
from .transport import collect, exchange

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, RecordDict
    from flwr.serverapp import Grid

logger = logging.getLogger(__name__)
Decision = tuple[int, bool]  # (round decided, accepted); round -1: nothing decided yet
NO_DECISION: Decision = (-1, False)


def hello(weights_from: int) -> RecordDict:
    """``query.hello``'s content: tell your ``partition-id``; learner ``weights_from``, send your weights."""
    from flwr.app import ConfigRecord, RecordDict

    return RecordDict({"colearn": ConfigRecord({"weights_from": weights_from})})


@dataclass(frozen=True)
class AnswerWait:
    """How long the server waited for one learner's answer in one step of a round (missing: no answer)."""

    round_index: int
    step: str  # the message type: "train", "evaluate", "query.init", "query.decide"
    learner: int
    seconds: float
    missing: bool = False


@dataclass
class Roster:
    """The server's view of the learners: their SuperNodes, the shared weights, and who is in step."""

    nodes: list[int]  # each learner's SuperNode, in partition-id order
    weights: ArrayRecord  # what every learner in sync holds: learner 0's, then each accepted proposal
    timeout: float
    round_deadline: float | None = None  # None: a missing learner raises LearnerError
    out_of_sync: set[int] = field(default_factory=set)  # learners to send ``weights`` before they take part
    awaiting: set[int] = field(default_factory=set)  # learners holding the proposal ``decision`` decides
    decision: Decision = NO_DECISION
    partition_of: dict[int, int] = field(default_factory=dict)  # SuperNodes that joined later: partition-id
    waits: list[AnswerWait] = field(default_factory=list)  # every step's wait for every learner asked

    def told(self, learner: int) -> Decision:
        """The decision a message to ``learner`` carries: the last one if it holds that proposal, or none."""
        return self.decision if learner in self.awaiting else NO_DECISION


def missing_reason(learner: int, node: int, round_index: int, message_type: str, error: str | None,
                   round_deadline: float) -> str:
    """Why a learner is missing from a round, for the round's ``errors`` (``missing`` names it)."""
    why = (f"no answer to '{message_type}' within {round_deadline:g} s" if error is None
           else f"failed on '{message_type}': {error}")
    return f"learner {learner} (SuperNode {node}) missing in round {round_index}: {why}"


def ask(grid: Grid, roster: Roster, contents: dict[int, RecordDict], message_type: str,
        round_index: int) -> tuple[dict[int, RecordDict], dict[int, str]]:
    """Send learner ``i`` ``contents[i]``; the answers by learner, and why each other learner is missing.

    Without a round deadline a missing learner raises ``LearnerError`` (``exchange``); with one it is
    out of sync from now on.
    """
    nodes, arrivals, wait_s = roster.nodes, {}, roster.round_deadline or roster.timeout
    by_node = {nodes[i]: content for i, content in contents.items()}
    if roster.round_deadline is None:
        answered, failed = exchange(grid, by_node, message_type, wait_s, nodes, round_index, arrivals), {}
    else:
        answered, failed = collect(grid, by_node, message_type, wait_s, arrivals)
    roster.waits += [AnswerWait(round_index, message_type, nodes.index(node), arrivals.get(node, wait_s),
                                node in failed) for node in by_node]
    missing = {nodes.index(node): missing_reason(nodes.index(node), node, round_index, message_type, error,
                                                 wait_s) for node, error in failed.items()}
    for reason in missing.values():
        logger.warning(reason)
    roster.out_of_sync |= missing.keys()
    roster.awaiting -= missing.keys()
    return {nodes.index(node): reply.content for node, reply in answered.items()}, missing


def rejoin(grid: Grid, roster: Roster) -> None:
    """Map each out-of-sync learner to a SuperNode that connected since with its ``partition-id``, if any."""
    if not roster.out_of_sync:
        return
    unmapped = sorted(set(grid.get_node_ids()) - set(roster.nodes))
    unknown = {node: hello(-1) for node in unmapped if node not in roster.partition_of}
    if unknown:
        answered, _ = collect(grid, unknown, "query.hello", roster.round_deadline or roster.timeout)
        roster.partition_of |= {node: config_int(reply.content.config_records["info"], "partition_id")
                                for node, reply in answered.items()}
    for learner in sorted(roster.out_of_sync):
        returned = [node for node in unmapped if roster.partition_of.get(node) == learner]
        if returned:
            logger.info("learner %d is back, on SuperNode %d (was %d)", learner, returned[0],
                        roster.nodes[learner])
            roster.partition_of[roster.nodes[learner]] = learner  # the old node, should it come back
            del roster.partition_of[returned[0]]
            roster.nodes[learner] = returned[0]


def bring_in_sync(grid: Grid, roster: Roster, round_index: int) -> dict[int, str]:
    """Send each out-of-sync learner the shared weights (``query.init``); why each still out is missing."""
    from flwr.app import RecordDict

    rejoin(grid, roster)
    contents = {i: RecordDict({"weights": roster.weights}) for i in sorted(roster.out_of_sync)}
    if not contents:
        return {}
    answered, missing = ask(grid, roster, contents, "query.init", round_index)
    roster.out_of_sync -= answered.keys()
    return missing
