"""The ServerApp: the voting round of ``run_one_round`` driven over Flower's Message API.

Per round two exchanges: ``train`` to the proposer (it proposes and scores its proposal),
then ``evaluate`` to every other learner (each scores the proposal and votes). The decision
travels with the next round's messages; after the last round an accepted proposal is sent
as ``query.decide``. A proposal holding NaN or infinite weights is rejected untested, as in
``run_one_round``: its voters then get the previous decision by ``query.decide``. Learners are
ordered by their node's ``partition-id``.

Participants who drop out (a laptop closing its lid): without a ``round_deadline`` a learner that
does not answer within ``timeout``, or answers with an error, ends the run (``LearnerError``). With
one, each exchange of a round waits at most ``round_deadline`` seconds (no longer than the last
reply takes) and a learner missing from it is recorded, not fatal: a missing voter abstains (a no
vote, NaN scores, as ``run_one_round(..., on_error="abstain")``), a missing proposer makes the round
a rejected one that nobody votes on; either way the round's ``missing`` names the learner (data, read
by the class's roster and command line) and its ``errors`` say why, "learner 2 (SuperNode 123) missing
in round 4: ...". A learner that missed a message is out of sync: before each later round it is sent the
shared weights (learner 0's, then each accepted proposal) by ``query.init``, and takes part again once
it answers. A SuperNode
that connects during the run (a restarted one, under a new node id) is asked its ``partition-id``
and replaces an out-of-sync learner's node. The start (finding the learners, equal weights) always
waits ``timeout`` and raises.

Taught in notebook 12.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..protocol.checks import check_int, check_n_rounds, check_number, check_vote_threshold
from ..protocol.interface import ProposedWeights, Weights
from ..protocol.loop import round_result
from ..protocol.results import Result, Results
from ..protocol.round import LearnerError, is_accepted, refuse_non_finite, unscored_vote
from .records import config_int, record_to_scores, record_to_summary

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, Message, RecordDict
    from flwr.serverapp import Grid, ServerApp

logger = logging.getLogger(__name__)
POLL_INTERVAL_S: float | None = 0.02  # the deployment Grid's own send_and_receive sleeps 3 s between pulls
Decision = tuple[int, bool]  # (round decided, accepted); round -1: nothing decided yet
NO_DECISION: Decision = (-1, False)


def check_counts(n_learners: int, n_rounds: int) -> None:
    """Refuse fewer than 2 learners or a negative number of rounds."""
    check_int("n_learners", n_learners, minimum=2, hint=": collective learning needs at least 2 learners")
    check_n_rounds(n_rounds)


def check_round_deadline(round_deadline: float | None) -> None:
    """Refuse a round deadline that is not ``None`` or a positive number of seconds."""
    if round_deadline is not None:
        check_number("round_deadline", round_deadline, minimum=0, low_open=True,
                     hint=" of seconds each step of a round waits for answers, e.g. 30, or None")


def send_and_receive(grid: Grid, messages: list[Message], timeout: float,
                     arrivals: dict[int, float] | None = None) -> list[Message]:
    """Push ``messages``; pull replies every ``POLL_INTERVAL_S`` (Flower's own: ``grid.send_and_receive``).

    ``arrivals``, if given, gets each replying node's seconds from the push to its reply's arrival.
    """
    sent, arrivals = time.monotonic(), {} if arrivals is None else arrivals
    if POLL_INTERVAL_S is None:
        replies = list(grid.send_and_receive(messages, timeout=timeout))
        arrivals.update({reply.metadata.src_node_id: time.monotonic() - sent for reply in replies})
        return replies
    waiting, replies = set(grid.push_messages(messages)), []
    deadline = time.monotonic() + timeout  # from after the push: an in-process grid answers inside it
    while waiting and time.monotonic() < deadline:
        for reply in grid.pull_messages(list(waiting)):
            waiting.discard(reply.metadata.reply_to_message_id)
            replies.append(reply)
            arrivals[reply.metadata.src_node_id] = time.monotonic() - sent
        if waiting:
            time.sleep(POLL_INTERVAL_S)
    return replies


def collect(grid: Grid, contents: dict[int, RecordDict], message_type: str, timeout: float,
            arrivals: dict[int, float] | None = None) -> tuple[dict[int, Message], dict[int, str | None]]:
    """Send each node its content; the replies without error, and each other node's error (None: no reply).

    A message lives ``timeout`` s (its TTL): a laptop that comes back later is not handed messages nobody
    waits for any more (Flower would hold them for 12 h, and the SuperNode would take them first). A node
    whose SuperNode Flower no longer hears (two missed heartbeats: a closed lid, a killed laptop) gets
    Flower's own error reply, so it is not waited for to the end. ``arrivals``: see ``send_and_receive``.
    """
    from flwr.app import Message

    messages = [Message(content, dst_node_id=node, message_type=message_type, ttl=timeout)
                for node, content in contents.items()]
    replies = {reply.metadata.src_node_id: reply
               for reply in send_and_receive(grid, messages, timeout, arrivals)}
    answered = {node: replies[node] for node in contents if node in replies and not replies[node].has_error()}
    failed = {node: replies[node].error.reason if node in replies else None
              for node in contents if node not in answered}
    return answered, failed


def exchange(grid: Grid, contents: dict[int, RecordDict], message_type: str, timeout: float,
             learners: Sequence[int] | None = None, round_index: int = 0,
             arrivals: dict[int, float] | None = None) -> dict[int, Message]:
    """Send each node its content and wait for every reply; a failed or missing reply raises.

    With ``learners`` (node ids in learner order) the error is a ``LearnerError`` naming the learner.
    """
    answered, failed = collect(grid, contents, message_type, timeout, arrivals)
    for node, reason in failed.items():
        failure = (f"did not answer '{message_type}' within {timeout} s (is it running, and if "
                   f"started with --isolation process, the worker beside it?)" if reason is None
                   else f"failed on '{message_type}': {reason}")
        if learners is None:
            raise RuntimeError(f"SuperNode {node} {failure}")
        learner = learners.index(node)
        raise LearnerError(f"learner {learner} (SuperNode {node}) in round {round_index} {failure}",
                           learner, round_index)
    return answered


def wait_for_nodes(grid: Grid, n_learners: int, timeout: float) -> list[int]:
    """The ids of the connected SuperNodes, once there are at least ``n_learners``."""
    deadline = time.monotonic() + timeout
    while len(nodes := sorted(grid.get_node_ids())) < n_learners:
        if time.monotonic() > deadline:
            raise TimeoutError(f"n_learners: waited {timeout} s for {n_learners} SuperNodes, "
                               f"{len(nodes)} connected")
        time.sleep(0.2)
    return nodes


def hello(weights_from: int) -> RecordDict:
    """``query.hello``'s content: tell your ``partition-id``; learner ``weights_from``, send your weights."""
    from flwr.app import ConfigRecord, RecordDict

    return RecordDict({"colearn": ConfigRecord({"weights_from": weights_from})})


def find_learners(grid: Grid, n_learners: int, timeout: float) -> tuple[list[int], ArrayRecord]:
    """Node ids ordered by ``partition-id`` (0 to n_learners - 1), and learner 0's weights."""
    nodes = wait_for_nodes(grid, n_learners, timeout)
    replies = exchange(grid, {node: hello(0) for node in nodes}, "query.hello", timeout)
    by_partition: dict[int, int] = {}
    for node, reply in replies.items():
        partition = config_int(reply.content.config_records["info"], "partition_id")
        if partition in by_partition:
            raise ValueError(f"partition-id: SuperNodes {by_partition[partition]} and {node} both have "
                             f"partition-id={partition}; give every SuperNode its own, 0 to {n_learners - 1}")
        by_partition[partition] = node
    missing = sorted(set(range(n_learners)) - by_partition.keys())
    if missing:
        raise ValueError(f"partition-id: no SuperNode has partition-id {missing}; connected ones have "
                         f"{sorted(by_partition)}; expected each of 0 to {n_learners - 1} once")
    ordered = [by_partition[i] for i in range(n_learners)]
    return ordered, replies[ordered[0]].content.array_records["weights"]


def initial_scores(grid: Grid, nodes: Sequence[int], weights: ArrayRecord, timeout: float) -> Result:
    """Every learner takes learner 0's weights; every learner's scores, as ``initial_result``."""
    from flwr.app import RecordDict

    contents = {node: RecordDict({"weights": weights} if i else {}) for i, node in enumerate(nodes)}
    replies = exchange(grid, contents, "query.init", timeout, nodes)
    scores = [record_to_scores(replies[node].content.metric_records["scores"]) for node in nodes]
    return Result(vote=False, votes=[True] * len(nodes), vote_scores=[s["vote_score"] for s in scores],
                  test_scores=[s["test_score"] for s in scores])


def round_config(round_index: int, decision: Decision) -> RecordDict:
    """The round number and the previous decision, as the ``colearn`` ConfigRecord of a message."""
    from flwr.app import ConfigRecord, RecordDict

    return RecordDict({"colearn": ConfigRecord({"round": round_index, "decided_round": decision[0],
                                                "accepted": decision[1]})})


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
    nodes, arrivals = roster.nodes, {}
    by_node = {nodes[i]: content for i, content in contents.items()}
    if roster.round_deadline is None:
        replies = exchange(grid, by_node, message_type, roster.timeout, nodes, round_index, arrivals)
        roster.waits += [AnswerWait(round_index, message_type, i, arrivals[nodes[i]]) for i in contents]
        return {i: replies[nodes[i]].content for i in contents}, {}
    answered, failed = collect(grid, by_node, message_type, roster.round_deadline, arrivals)
    roster.waits += [AnswerWait(round_index, message_type, nodes.index(node),
                                arrivals.get(node, roster.round_deadline), node in failed)
                     for node in by_node]
    missing = {nodes.index(node): missing_reason(nodes.index(node), node, round_index, message_type, error,
                                                 roster.round_deadline) for node, error in failed.items()}
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


def missing_answer(reason: str | None, learner: int, proposer: int) -> ProposedWeights:
    """An answer without scores: a no vote (the proposer's None), NaN scores, why it is missing if it is."""
    return ProposedWeights(Weights(None), vote_score=math.nan, test_score=math.nan,
                           vote=None if learner == proposer else False, error=reason)


def scored_answer(content: RecordDict, weights: Weights, learner: int, proposer: int,
                  round_index: int) -> ProposedWeights:
    """A learner's scores of the proposal and its vote (the proposer's ``None``), from its reply.

    A voter's score that is not a number is kept as the answer's error (``unscored_vote``).
    """
    scores = record_to_scores(content.metric_records["scores"])
    if learner == proposer:
        return ProposedWeights(weights, scores["vote_score"], scores["test_score"], None)
    return ProposedWeights(weights, scores["vote_score"], scores["test_score"], scores["vote"],
                           error=unscored_vote(learner, scores["vote_score"], round_index))


def propose(grid: Grid, roster: Roster, round_index: int, missing: dict[int, str]) -> RecordDict | None:
    """The proposer's answer to ``train``, or ``None`` when it is missing (the reason then in ``missing``)."""
    proposer = round_index % len(roster.nodes)
    if proposer in missing:  # out of sync and not brought back: not asked
        return None
    config = round_config(round_index, roster.told(proposer))
    replies, absent = ask(grid, roster, {proposer: config}, "train", round_index)
    missing.update(absent)
    return replies.get(proposer)


def without_proposal(roster: Roster, round_index: int, missing: dict[int, str]) -> Result:
    """The round of a missing proposer: rejected, nobody asked to vote, every learner keeps its weights."""
    proposer = round_index % len(roster.nodes)
    answers = [missing_answer(missing.get(i), i, proposer) for i in range(len(roster.nodes))]
    return round_result(answers, False, None, proposer)


def refuse_untested(grid: Grid, roster: Roster, round_index: int, proposal: RecordDict,
                    missing: dict[int, str]) -> Result:
    """A proposal with NaN or infinite weights, rejected untested; its voters get the last decision."""
    proposer, n_learners = round_index % len(roster.nodes), len(roster.nodes)
    voters = {i: round_config(round_index, roster.told(i)) for i in range(n_learners)
              if i != proposer and i not in missing}
    missing.update(ask(grid, roster, voters, "query.decide", round_index)[1])  # the last decision, untold yet
    roster.awaiting, roster.decision = {proposer}, (round_index, False)
    answers = refuse_non_finite(Weights(proposal.array_records["weights"]), n_learners, proposer, round_index)
    for i, reason in missing.items():
        answers[i].error = reason
    return round_result(answers, False, record_to_summary(proposal.config_records["summary"]), proposer)


def vote_on(grid: Grid, roster: Roster, round_index: int, vote_threshold: float, proposal: RecordDict,
            missing: dict[int, str]) -> Result:
    """The voters score the proposal and vote, a missing one abstains; ``run_one_round``'s rule decides."""
    proposer, weights = round_index % len(roster.nodes), Weights(proposal.array_records["weights"])
    contents = {}
    for i in range(len(roster.nodes)):
        if i != proposer and i not in missing:
            contents[i] = round_config(round_index, roster.told(i))
            contents[i]["weights"] = proposal.array_records["weights"]
    replies, absent = ask(grid, roster, contents, "evaluate", round_index)
    replies[proposer] = proposal
    missing.update(absent)
    answers = [missing_answer(missing[i], i, proposer) if i in missing
               else scored_answer(replies[i], weights, i, proposer, round_index)
               for i in range(len(roster.nodes))]
    accepted = is_accepted([answer.vote for answer in answers], vote_threshold)
    roster.awaiting, roster.decision = set(replies), (round_index, accepted)
    if accepted:
        roster.weights = proposal.array_records["weights"]
    return round_result(answers, accepted, record_to_summary(proposal.config_records["summary"]), proposer)


def voting_round(grid: Grid, roster: Roster, round_index: int, vote_threshold: float) -> Result:
    """One round: learners out of sync get the shared weights, the proposer trains, the others vote.

    The round's ``missing``: the learners that did not answer in it (their reasons in ``errors``).
    """
    missing = bring_in_sync(grid, roster, round_index)
    proposal = propose(grid, roster, round_index, missing)
    if proposal is None:
        result = without_proposal(roster, round_index, missing)
    elif not bool(proposal.config_records["finite"]["finite"]):
        result = refuse_untested(grid, roster, round_index, proposal, missing)
    else:
        result = vote_on(grid, roster, round_index, vote_threshold, proposal, missing)
    result.missing = sorted(missing)
    return result


def tell_last_decision(grid: Grid, roster: Roster, n_rounds: int) -> None:
    """Send an accepted last proposal's decision to the learners holding it; a missing one is logged."""
    if roster.decision[1]:
        contents = {i: round_config(n_rounds, roster.decision) for i in sorted(roster.awaiting)}
        ask(grid, roster, contents, "query.decide", n_rounds - 1)


def run_colearn(grid: Grid, n_learners: int, n_rounds: int, vote_threshold: float = 0.5,
                timeout: float = 300.0, on_round: Callable[[Results], None] | None = None,
                round_deadline: float | None = None, waits: list[AnswerWait] | None = None) -> Results:
    """Collective learning over ``grid``: equal weights, initial scores, then ``n_rounds`` voting rounds.

    The ``Results`` equal those of ``initial_result`` and ``collective_learning_round`` run on the
    same learners in one process. ``on_round(results)`` is called after every round. The start waits
    up to ``timeout`` for every learner; ``round_deadline`` (seconds; see the module's docstring) lets
    the rounds go on without a missing learner, which the round's ``Result.missing`` then names.
    ``waits``, if given, gets an ``AnswerWait`` for every learner asked in every step of every round.
    """
    check_counts(n_learners, n_rounds)
    check_vote_threshold(vote_threshold)
    check_round_deadline(round_deadline)
    nodes, weights = find_learners(grid, n_learners, timeout)
    results = Results([initial_scores(grid, nodes, weights, timeout)])
    roster = Roster(nodes, weights, timeout, round_deadline, waits=[] if waits is None else waits)
    for round_index in range(n_rounds):
        results.append(voting_round(grid, roster, round_index, vote_threshold))
        logger.info("round %d: %r", round_index, results.data[-1])
        if on_round is not None:
            on_round(results)
    tell_last_decision(grid, roster, n_rounds)
    return results


def make_server_app(n_learners: int, n_rounds: int, vote_threshold: float = 0.5,
                    on_results: Callable[[Results], None] | None = None, timeout: float = 300.0,
                    on_round: Callable[[Results], None] | None = None,
                    round_deadline: float | None = None) -> ServerApp:
    """A ``ServerApp`` running ``run_colearn``; ``on_results(results)`` gets the ``Results`` at the end."""
    from flwr.serverapp import ServerApp

    check_counts(n_learners, n_rounds)
    check_vote_threshold(vote_threshold)
    check_round_deadline(round_deadline)
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context) -> None:
        results = run_colearn(grid, n_learners, n_rounds, vote_threshold, timeout, on_round, round_deadline)
        if on_results is not None:
            on_results(results)

    return app
