"""The ServerApp: the voting round of ``run_one_round`` driven over Flower's Message API.

Per round two exchanges: ``train`` to the proposer (it proposes and scores its proposal),
then ``evaluate`` to every other learner (each scores the proposal and votes). The decision
travels with the next round's messages; after the last round an accepted proposal is sent
as ``query.decide``. A proposal holding NaN or infinite weights is rejected untested, as in
``run_one_round``: its voters then get the previous decision by ``query.decide``. Learners are
ordered by their node's ``partition-id``.

Taught in notebook 12.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..protocol.checks import check_int, check_n_rounds, check_vote_threshold
from ..protocol.interface import ProposedWeights, Weights
from ..protocol.loop import round_result
from ..protocol.results import Result, Results
from ..protocol.round import LearnerError, is_accepted, refuse_non_finite
from .records import record_to_scores, record_to_summary

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, Message, RecordDict
    from flwr.serverapp import Grid, ServerApp

logger = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.02  # the deployment Grid's own send_and_receive sleeps 3 s between pulls
Decision = tuple[int, bool]  # (round decided, accepted); round -1: nothing decided yet


def check_counts(n_learners: int, n_rounds: int) -> None:
    """Refuse fewer than 2 learners or a negative number of rounds."""
    check_int("n_learners", n_learners, minimum=2, hint=": collective learning needs at least 2 learners")
    check_n_rounds(n_rounds)


def send_and_receive(grid: Grid, messages: list[Message], timeout: float) -> list[Message]:
    """Push ``messages``; pull replies every ``POLL_INTERVAL_S`` (Flower's own: ``grid.send_and_receive``)."""
    if POLL_INTERVAL_S is None:
        return list(grid.send_and_receive(messages, timeout=timeout))
    waiting, replies = set(grid.push_messages(messages)), []
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for reply in grid.pull_messages(list(waiting)):
            waiting.discard(reply.metadata.reply_to_message_id)
            replies.append(reply)
        if waiting:
            time.sleep(POLL_INTERVAL_S)
    return replies


def exchange(grid: Grid, contents: dict[int, RecordDict], message_type: str, timeout: float,
             learners: Sequence[int] | None = None, round_index: int = 0) -> dict[int, Message]:
    """Send each node its content and wait for every reply; a failed or missing reply raises.

    With ``learners`` (node ids in learner order) the error is a ``LearnerError`` naming the learner.
    """
    from flwr.app import Message

    messages = [Message(content, dst_node_id=node, message_type=message_type)
                for node, content in contents.items()]
    replies = {reply.metadata.src_node_id: reply for reply in send_and_receive(grid, messages, timeout)}
    for node in contents:
        if node not in replies or replies[node].has_error():
            failure = (f"did not answer '{message_type}' within {timeout} s (is it running, and if "
                       f"started with --isolation process, the worker beside it?)" if node not in replies
                       else f"failed on '{message_type}': {replies[node].error.reason}")
            if learners is None:
                raise RuntimeError(f"SuperNode {node} {failure}")
            learner = learners.index(node)
            raise LearnerError(f"learner {learner} (SuperNode {node}) in round {round_index} {failure}",
                               learner, round_index)
    return replies


def wait_for_nodes(grid: Grid, n_learners: int, timeout: float) -> list[int]:
    """The ids of the connected SuperNodes, once there are at least ``n_learners``."""
    deadline = time.monotonic() + timeout
    while len(nodes := sorted(grid.get_node_ids())) < n_learners:
        if time.monotonic() > deadline:
            raise TimeoutError(f"n_learners: waited {timeout} s for {n_learners} SuperNodes, "
                               f"{len(nodes)} connected")
        time.sleep(0.2)
    return nodes


def find_learners(grid: Grid, n_learners: int, timeout: float) -> tuple[list[int], ArrayRecord]:
    """Node ids ordered by ``partition-id`` (0 to n_learners - 1), and learner 0's weights."""
    from flwr.app import ConfigRecord, RecordDict

    nodes = wait_for_nodes(grid, n_learners, timeout)
    hello = {node: RecordDict({"colearn": ConfigRecord({"weights_from": 0})}) for node in nodes}
    replies = exchange(grid, hello, "query.hello", timeout)
    by_partition: dict[int, int] = {}
    for node, reply in replies.items():
        partition = int(reply.content["info"]["partition_id"])
        if partition in by_partition:
            raise ValueError(f"partition-id: SuperNodes {by_partition[partition]} and {node} both have "
                             f"partition-id={partition}; give every SuperNode its own, 0 to {n_learners - 1}")
        by_partition[partition] = node
    missing = sorted(set(range(n_learners)) - by_partition.keys())
    if missing:
        raise ValueError(f"partition-id: no SuperNode has partition-id {missing}; connected ones have "
                         f"{sorted(by_partition)}; expected each of 0 to {n_learners - 1} once")
    ordered = [by_partition[i] for i in range(n_learners)]
    return ordered, replies[ordered[0]].content["weights"]


def initial_scores(grid: Grid, nodes: Sequence[int], weights: ArrayRecord, timeout: float) -> Result:
    """Every learner takes learner 0's weights; every learner's scores, as ``initial_result``."""
    from flwr.app import RecordDict

    contents = {node: RecordDict({"weights": weights} if i else {}) for i, node in enumerate(nodes)}
    replies = exchange(grid, contents, "query.init", timeout, nodes)
    scores = [record_to_scores(replies[node].content["scores"]) for node in nodes]
    return Result(vote=False, votes=[True] * len(nodes), vote_scores=[s["vote_score"] for s in scores],
                  test_scores=[s["test_score"] for s in scores])


def round_config(round_index: int, decision: Decision) -> RecordDict:
    """The round number and the previous decision, as the ``colearn`` ConfigRecord of a message."""
    from flwr.app import ConfigRecord, RecordDict

    return RecordDict({"colearn": ConfigRecord({"round": round_index, "decided_round": decision[0],
                                                "accepted": decision[1]})})


def voting_round(grid: Grid, nodes: Sequence[int], round_index: int, vote_threshold: float,
                 decision: Decision, timeout: float) -> Result:
    """One round: the proposer trains, the others score and vote, the rule of ``run_one_round`` decides."""
    proposer = round_index % len(nodes)
    proposal = exchange(grid, {nodes[proposer]: round_config(round_index, decision)}, "train", timeout, nodes,
                        round_index)[nodes[proposer]].content
    summary, weights = record_to_summary(proposal["summary"]), Weights(proposal["weights"])
    if not bool(proposal["finite"]["finite"]):  # as run_one_round: rejected untested, the reason kept
        voters = {node: round_config(round_index, decision) for i, node in enumerate(nodes) if i != proposer}
        exchange(grid, voters, "query.decide", timeout, nodes, round_index)  # the last decision, untold yet
        return round_result(refuse_non_finite(weights, len(nodes), proposer, round_index), False, summary,
                            proposer)
    contents = {}
    for i, node in enumerate(nodes):
        if i != proposer:
            contents[node] = round_config(round_index, decision)
            contents[node]["weights"] = proposal["weights"]
    replies = exchange(grid, contents, "evaluate", timeout, nodes, round_index)
    scores = [record_to_scores((proposal if i == proposer else replies[node].content)["scores"])
              for i, node in enumerate(nodes)]
    answers = [ProposedWeights(weights, s["vote_score"], s["test_score"],
                               None if i == proposer else s["vote"]) for i, s in enumerate(scores)]
    return round_result(answers, is_accepted([pw.vote for pw in answers], vote_threshold), summary, proposer)


def run_colearn(grid: Grid, n_learners: int, n_rounds: int, vote_threshold: float = 0.5,
                timeout: float = 300.0, on_round: Callable[[Results], None] | None = None) -> Results:
    """Collective learning over ``grid``: equal weights, initial scores, then ``n_rounds`` voting rounds.

    The ``Results`` equal those of ``initial_result`` and ``collective_learning_round`` run on the
    same learners in one process. ``on_round(results)`` is called after every round.
    """
    check_counts(n_learners, n_rounds)
    check_vote_threshold(vote_threshold)
    nodes, weights = find_learners(grid, n_learners, timeout)
    results = Results([initial_scores(grid, nodes, weights, timeout)])
    decision: Decision = (-1, False)
    for round_index in range(n_rounds):
        results.append(voting_round(grid, nodes, round_index, vote_threshold, decision, timeout))
        decision = (round_index, results.data[-1].vote)
        logger.info("round %d: %r", round_index, results.data[-1])
        if on_round is not None:
            on_round(results)
    if decision[1]:
        contents = {node: round_config(n_rounds, decision) for node in nodes}
        exchange(grid, contents, "query.decide", timeout, nodes, n_rounds - 1)
    return results


def make_server_app(n_learners: int, n_rounds: int, vote_threshold: float = 0.5,
                    on_results: Callable[[Results], None] | None = None, timeout: float = 300.0,
                    on_round: Callable[[Results], None] | None = None) -> ServerApp:
    """A ``ServerApp`` running ``run_colearn``; ``on_results(results)`` gets the ``Results`` at the end."""
    from flwr.serverapp import ServerApp

    check_counts(n_learners, n_rounds)
    check_vote_threshold(vote_threshold)
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context) -> None:
        results = run_colearn(grid, n_learners, n_rounds, vote_threshold, timeout, on_round)
        if on_results is not None:
            on_results(results)

    return app
