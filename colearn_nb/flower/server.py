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
reply takes; a laptop whose heartbeats Flower stopped hearing gets Flower's error reply sooner) and a
learner missing from it is recorded, not fatal: a missing voter abstains (a no
vote, NaN scores, as ``run_one_round(..., on_error="abstain")``), a missing proposer makes the round
a rejected one that nobody votes on; either way the round's ``missing`` names the learner (data, read
by the class's roster and command line) and its ``errors`` say why, "learner 2 (SuperNode 123) missing
in round 4: ...". A learner that missed a message is out of sync: before each later round it is sent the
shared weights (learner 0's, then each accepted proposal) by ``query.init``, and takes part again once
it answers. A SuperNode
that connects during the run (a restarted one, under a new node id) is asked its ``partition-id``
and replaces an out-of-sync learner's node. The start (finding the learners, equal weights) always
waits ``timeout`` and raises.

The teacher's live controls (``ClassControls``: the vote threshold, learners told to attack), when given,
are read before each round: the proposer's ``train`` message then names its attack (``"garbage"``,
``"sign-flip"``), the round is decided by their threshold, and its ``Result`` records both.

Taught in notebook 12.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..protocol.checks import check_int, check_n_rounds, check_number, check_vote_threshold
from ..protocol.class_controls import ClassControls
from ..protocol.interface import ProposedWeights, Weights
from ..protocol.loop import round_result
from ..protocol.results import Result, Results
from ..protocol.round import is_accepted, refuse_non_finite, unscored_vote
from .records import config_int, record_to_scores, record_to_summary
from .roster import AnswerWait, Decision, Roster, ask, bring_in_sync, hello
from .transport import exchange, send_and_receive, wait_for_nodes

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, RecordDict
    from flwr.serverapp import Grid, ServerApp

__all__ = ["AnswerWait", "check_counts", "check_round_deadline", "hello", "make_server_app", "run_colearn",
           "send_and_receive"]
logger = logging.getLogger(__name__)


def check_counts(n_learners: int, n_rounds: int) -> None:
    """Refuse fewer than 2 learners or a negative number of rounds."""
    check_int("n_learners", n_learners, minimum=2, hint=": collective learning needs at least 2 learners")
    check_n_rounds(n_rounds)


def check_round_deadline(round_deadline: float | None) -> None:
    """Refuse a round deadline that is not ``None`` or a positive number of seconds."""
    if round_deadline is not None:
        check_number("round_deadline", round_deadline, minimum=0, low_open=True,
                     hint=" of seconds each step of a round waits for answers, e.g. 30, or None")


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


def propose(grid: Grid, roster: Roster, round_index: int, missing: dict[int, str],
            attack: str | None = None) -> RecordDict | None:
    """The proposer's answer to ``train`` (told to propose ``attack``, if any), or ``None`` when it is
    missing (the reason then in ``missing``)."""
    proposer = round_index % len(roster.nodes)
    if proposer in missing:  # out of sync and not brought back: not asked
        return None
    config = round_config(round_index, roster.told(proposer))
    if attack is not None:
        config.config_records["colearn"]["attack"] = attack
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


def voting_round(grid: Grid, roster: Roster, round_index: int, vote_threshold: float,
                 attack: str | None = None) -> Result:
    """One round: learners out of sync get the shared weights, the proposer trains (or proposes ``attack``),
    the others vote.

    The round's ``missing``: the learners that did not answer in it (their reasons in ``errors``).
    """
    missing = bring_in_sync(grid, roster, round_index)
    proposal = propose(grid, roster, round_index, missing, attack)
    if proposal is None:
        result = without_proposal(roster, round_index, missing)
    elif not bool(proposal.config_records["finite"]["finite"]):
        result = refuse_untested(grid, roster, round_index, proposal, missing)
    else:
        result = vote_on(grid, roster, round_index, vote_threshold, proposal, missing)
    result.missing = sorted(missing)
    return result


def controlled_round(grid: Grid, roster: Roster, round_index: int, vote_threshold: float,
                     controls: ClassControls | None) -> Result:
    """A voting round under the teacher's ``controls`` (if any), which its ``Result`` then records."""
    if controls is None:
        return voting_round(grid, roster, round_index, vote_threshold)
    n_learners = len(roster.nodes)
    result = voting_round(grid, roster, round_index, controls.vote_threshold,
                          controls.attacks.get(round_index % n_learners))
    result.vote_threshold, result.attacks = controls.vote_threshold, controls.attack_list(n_learners)
    return result


def tell_last_decision(grid: Grid, roster: Roster, n_rounds: int) -> None:
    """Send an accepted last proposal's decision to the learners holding it; a missing one is logged."""
    if roster.decision[1]:
        contents = {i: round_config(n_rounds, roster.decision) for i in sorted(roster.awaiting)}
        ask(grid, roster, contents, "query.decide", n_rounds - 1)


def run_colearn(grid: Grid, n_learners: int, n_rounds: int, vote_threshold: float = 0.5,
                timeout: float = 300.0, on_round: Callable[[Results], None] | None = None,
                round_deadline: float | None = None, waits: list[AnswerWait] | None = None,
                controls: Callable[[], ClassControls | None] | None = None) -> Results:
    """Collective learning over ``grid``: equal weights, initial scores, then ``n_rounds`` voting rounds.

    The ``Results`` equal those of ``initial_result`` and ``collective_learning_round`` run on the
    same learners in one process. ``on_round(results)`` is called after every round. The start waits
    up to ``timeout`` for every learner; ``round_deadline`` (seconds; see the module's docstring) lets
    the rounds go on without a missing learner, which the round's ``Result.missing`` then names.
    ``waits``, if given, gets an ``AnswerWait`` for every learner asked in every step of every round.
    ``controls()``, if given, is called before each round: the teacher's ``ClassControls`` or ``None``.
    """
    check_counts(n_learners, n_rounds)
    check_vote_threshold(vote_threshold)
    check_round_deadline(round_deadline)
    nodes, weights = find_learners(grid, n_learners, timeout)
    results = Results([initial_scores(grid, nodes, weights, timeout)])
    roster = Roster(nodes, weights, timeout, round_deadline, waits=[] if waits is None else waits)
    for round_index in range(n_rounds):
        now = controls() if controls is not None else None
        results.append(controlled_round(grid, roster, round_index, vote_threshold, now))
        logger.info("round %d: %r", round_index, results.data[-1])
        if on_round is not None:
            on_round(results)
    tell_last_decision(grid, roster, n_rounds)
    return results


def make_server_app(n_learners: int, n_rounds: int, vote_threshold: float = 0.5,
                    on_results: Callable[[Results], None] | None = None, timeout: float = 300.0,
                    on_round: Callable[[Results], None] | None = None,
                    round_deadline: float | None = None,
                    controls: Callable[[], ClassControls | None] | None = None) -> ServerApp:
    """A ``ServerApp`` running ``run_colearn``; ``on_results(results)`` gets the ``Results`` at the end."""
    from flwr.serverapp import ServerApp

    check_counts(n_learners, n_rounds)
    check_vote_threshold(vote_threshold)
    check_round_deadline(round_deadline)
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context) -> None:
        results = run_colearn(grid, n_learners, n_rounds, vote_threshold, timeout, on_round, round_deadline,
                              controls=controls)
        if on_results is not None:
            on_results(results)

    return app
