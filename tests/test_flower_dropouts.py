"""Participants who drop out of a Flower run (a laptop closing its lid) and come back.

``ClassroomGrid`` is ``DirectGrid`` (each message handed to the real ClientApp, each node with its own
``Context``) whose nodes can stay silent in some rounds, answer with an error, or restart with an empty
state, under their node id or a new one. Learners are the user's own (tests/user_learners.py): plain
DataLoaders, the user's model and optimizer. Each run is checked against the same learners in one
process, where a missing voter is one that abstains (``on_error="abstain"``) and a missing proposer's
round is rejected with every learner unchanged.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("flwr", reason="Flower is not installed: pip install -e .[flower]")

from flwr.server.superlink.linkstate.utils import NODE_UNAVAILABLE_ERROR_REASON  # noqa: E402
from test_user_learner_matrix import DirectGrid  # noqa: E402
from user_learners import Factory, build  # noqa: E402

from colearn_nb import LearnerError, Results, collective_learning_round, run_rounds, start_results  # noqa: E402
from colearn_nb.flower import make_client_app, make_server_app  # noqa: E402
from colearn_nb.flower.server import hello, run_colearn, send_and_receive  # noqa: E402
from colearn_nb.protocol.results import Result  # noqa: E402

N_LEARNERS, N_ROUNDS, DEADLINE = 3, 4, 0.3
NAMES = ["mlp_adam", "batchnorm_dropout_sgd"]
NODE = {i: 100 + 7 * i for i in range(N_LEARNERS)}  # DirectGrid's node ids


class ClassroomGrid(DirectGrid):
    """``DirectGrid`` with laptops: a node answers nothing or an error in some rounds, or restarts.

    ``silent[p]`` and ``failing[p]``: the rounds in which learner ``p``'s node answers nothing (lid
    closed) or an error; ``joins[r]``: ``(partition, node id, replaces)`` nodes that connect before round
    ``r``, with a fresh ``Context``, replacing the learner's old node or beside it. ``next_round`` is
    the server's ``on_round``: it tells the grid which round comes next.
    """

    def __init__(self, name: str, silent=None, failing=None, joins=None, gone=None):
        super().__init__(make_client_app(Factory(name)), N_LEARNERS)
        self.round, self.silent, self.failing, self.joins = 0, silent or {}, failing or {}, joins or {}
        self.gone = gone or {}  # rounds in which Flower answers for the node: it no longer hears it
        self.answered: list[tuple[int, int, str]] = []  # (round, node, message type) of each answer

    def partition(self, node: int) -> int:
        return int(self.contexts[node].node_config["partition-id"])

    def next_round(self, results: Results) -> None:
        self.round = len(results) - 1
        for partition, node, replaces in self.joins.get(self.round, []):
            self.join(partition, node, replaces)

    def join(self, partition: int, node: int, replaces: bool) -> None:
        """A SuperNode connects with an empty state; ``replaces``: the learner's old one is gone."""
        from flwr.app import Context, RecordDict

        if replaces:
            old = next(each for each in self.contexts if self.partition(each) == partition)
            del self.contexts[old], self.random_states[old]
        self.contexts[node] = Context(self.run_id, node, {"partition-id": partition}, RecordDict(), {})
        self.random_states[node] = torch.Generator().manual_seed(node).get_state()

    def _deliver(self, message):
        from flwr.app import Error, Message
        from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode

        node = message.metadata.dst_node_id
        if node not in self.contexts:  # a node that is gone: the message is never answered
            return None
        if self.round in self.silent.get(self.partition(node), ()):
            return None
        if self.round in self.failing.get(self.partition(node), ()):
            return Message(Error(code=0, reason="the laptop's battery ran out"), reply_to=message)
        if self.round in self.gone.get(self.partition(node), ()):  # as Flower's SuperLink answers
            error = Error(code=ErrorCode.NODE_UNAVAILABLE, reason=NODE_UNAVAILABLE_ERROR_REASON)
            unavailable = Message(error, reply_to=message)
            unavailable.metadata.__dict__["_src_node_id"] = SUPERLINK_NODE_ID  # from the SuperLink
            return unavailable
        self.answered.append((self.round, node, message.metadata.message_type))
        return super()._deliver(message)

    def pull_messages(self, message_ids) -> list:
        return [reply for reply in super().pull_messages(message_ids) if reply is not None]

    def weights_held(self, nodes) -> list[list[np.ndarray]]:
        """Each node's current weights, asked of the node itself (``query.hello``)."""
        from flwr.app import Message

        messages = [Message(hello(self.partition(node)), dst_node_id=node, message_type="query.hello")
                    for node in nodes]
        replies = send_and_receive(self, messages, 5)
        return [replies[node].content["weights"].to_numpy_ndarrays() for node in nodes]


@pytest.fixture(autouse=True)
def server_process(monkeypatch):
    """What Flower sets in a ServerApp's process; its random state must not matter."""
    from flwr.supercore.task_identity import TaskIdentity

    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)
    torch.manual_seed(12345)


def run(grid: ClassroomGrid, round_deadline: float | None = DEADLINE, timeout: float = 60) -> Results:
    return run_colearn(grid, N_LEARNERS, N_ROUNDS, 0.5, timeout=timeout, on_round=grid.next_round,
                       round_deadline=round_deadline)


@contextmanager
def failing_test(learners, indices):
    """Learners ``indices`` fail to test any weights, as a voter that abstains."""
    def fail(weights):
        raise OSError("no vote data")

    for i in indices:
        learners[i].mli_test_weights = fail
    try:
        yield
    finally:
        for i in indices:
            del learners[i].mli_test_weights


def without_proposal(round_index: int) -> Result:
    """A round whose proposer was missing: rejected, nobody voted, no scores."""
    proposer = round_index % N_LEARNERS
    return Result(vote=False, votes=[None if i == proposer else False for i in range(N_LEARNERS)],
                  vote_scores=[math.nan] * N_LEARNERS, test_scores=[math.nan] * N_LEARNERS,
                  block_proposer=proposer)


def in_process(name: str, abstain: dict[int, list[int]] | None = None, skip: tuple[int, ...] = ()) -> Results:
    """The learners in this process: in round ``r`` learners ``abstain[r]`` abstain; ``skip``: no proposal."""
    learners = build(name)
    results = start_results(learners)
    for round_index in range(N_ROUNDS):
        if round_index in skip:
            results.append(without_proposal(round_index))
            continue
        with failing_test(learners, (abstain or {}).get(round_index, [])):
            results.append(collective_learning_round(learners, 0.5, round_index, on_error="abstain"))
    return results


def no_errors(results: Results) -> list[Result]:
    """The rounds without what only a deployment records: who was missing, and why."""
    return [replace(result, errors=[], missing=[]) for result in results.data]


def missing(learner: int, round_index: int, why: str, node: int | None = None) -> str:
    node = NODE[learner] if node is None else node
    return f"learner {learner} (SuperNode {node}) missing in round {round_index}: {why}"


@pytest.mark.parametrize("name", NAMES)
def test_with_a_deadline_and_nobody_missing_the_results_are_the_in_process_ones_without_waiting(name):
    grid = ClassroomGrid(name)
    started = time.monotonic()
    results = run_colearn(grid, N_LEARNERS, N_ROUNDS, 0.5, timeout=120, round_deadline=60)
    took = time.monotonic() - started  # waiting out the deadline once would take 60 s, every step 480 s
    assert took < 60, f"the server waited for the deadline with every reply in ({took:.1f} s)"
    assert results == run_rounds(build(name), N_ROUNDS)
    assert not any(result.missing for result in results.data)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("how", ["silent", "failing", "gone"])
def test_a_voter_missing_in_a_round_abstains_and_the_run_goes_on(name, how):
    grid = ClassroomGrid(name, **{how: {2: {1}}})
    results = run(grid)
    expected = in_process(name, abstain={1: [2]})
    assert no_errors(results) == no_errors(expected)
    why = {"silent": f"no answer to 'evaluate' within {DEADLINE:g} s",
           "failing": "failed on 'evaluate': the laptop's battery ran out",
           "gone": f"failed on 'evaluate': {NODE_UNAVAILABLE_ERROR_REASON}"}[how]  # Flower's reply for it
    assert results.data[2].errors == [missing(2, 1, why)]
    assert results.data[2].votes[2] is False and np.isnan(results.data[2].vote_scores[2])
    assert [result.missing for result in results.data] == [[], [], [2], [], []]
    assert (2, NODE[2], "query.init") in grid.answered, "learner 2 was not given the shared weights"


@pytest.mark.parametrize("how", ["silent", "failing", "gone"])
def test_every_answer_s_wait_is_recorded_as_data_and_a_failed_laptop_is_not_waited_for(how):
    """What a benchmark reads to see how late laptops answer: one ``AnswerWait`` per learner per step."""
    grid, waits = ClassroomGrid(NAMES[0], **{how: {2: {1}}}), []
    run_colearn(grid, N_LEARNERS, N_ROUNDS, 0.5, timeout=60, on_round=grid.next_round,
                round_deadline=DEADLINE, waits=waits)
    steps = {(w.round_index, w.step) for w in waits}
    assert {(r, "train") for r in range(N_ROUNDS)} <= steps and (1, "evaluate") in steps
    assert [(w.learner, w.missing) for w in waits if w.round_index == 1 and w.step == "evaluate"] == \
        [(0, False), (2, True)]  # round 1: learner 1 proposes, 0 and 2 vote
    lost = next(w for w in waits if w.missing)
    assert (lost.seconds >= DEADLINE) == (how == "silent"), lost  # an error reply ends the wait at once
    assert all(0 <= w.seconds <= DEADLINE + 0.2 for w in waits)


@pytest.mark.parametrize("name", NAMES)
def test_a_proposer_missing_gives_a_rejected_round_nobody_votes_on(name):
    grid = ClassroomGrid(name, silent={1: {1}})
    results = run(grid)
    assert no_errors(results) == no_errors(in_process(name, skip=(1,)))
    assert results.data[2].errors == [missing(1, 1, f"no answer to 'train' within {DEADLINE:g} s")]
    assert not [answer for answer in grid.answered if answer[0] == 1], "voters were asked in round 1"
    assert results.n_rejected >= 1 and results.data[2].missing == [1]


def test_a_laptop_closed_for_two_rounds_misses_its_vote_and_its_proposal_then_votes_again():
    name = NAMES[0]
    grid = ClassroomGrid(name, silent={2: {1, 2}})
    started = time.monotonic()
    results = run(grid)
    assert time.monotonic() - started < 4 * DEADLINE + 5
    assert no_errors(results) == no_errors(in_process(name, abstain={1: [2]}, skip=(2,)))
    assert results.data[3].errors == [missing(2, 2, f"no answer to 'query.init' within {DEADLINE:g} s")]
    assert [result.missing for result in results.data] == [[], [], [2], [2], []]
    assert isinstance(results.data[4].votes[2], bool) and not results.data[4].errors


@pytest.mark.parametrize("name", NAMES)
def test_a_restarted_node_under_a_new_id_is_found_brought_in_sync_and_votes_again(name):
    """Learner 2's laptop restarts before round 2, its proposal round, as SuperNode 999; a stray
    SuperNode with partition-id 0 connects too and is left alone."""
    grid = ClassroomGrid(name, joins={2: [(2, 999, True), (0, 555, False)]})
    results = run(grid)
    assert no_errors(results) == no_errors(in_process(name, skip=(2,)))
    assert results.data[3].errors == [missing(2, 2, f"no answer to 'train' within {DEADLINE:g} s")]
    assert not results.data[4].errors and isinstance(results.data[4].votes[2], bool)
    assert [(r, kind) for r, node, kind in grid.answered if node == 999] == [
        (3, "query.hello"), (3, "query.init"), (3, "evaluate")] + [(4, "query.decide")] * results.data[4].vote
    assert [(r, kind) for r, node, kind in grid.answered if node == 555] == [(3, "query.hello")]
    held = grid.weights_held([NODE[0], NODE[1], 999])
    assert all(np.array_equal(a, b) for other in held[1:] for a, b in zip(held[0], other, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_a_voter_restarted_under_its_id_says_it_has_no_state_then_is_brought_in_sync(name):
    grid = ClassroomGrid(name, joins={2: [(1, NODE[1], True)]})
    results = run(grid)
    assert no_errors(results) == no_errors(in_process(name, abstain={2: [1]}))
    [error] = results.data[3].errors
    assert error.startswith(missing(1, 2, "failed on 'evaluate': RuntimeError: learner 1: this SuperNode has "
                                          "no learner state for run"))
    assert "needs the shared weights ('query.init') before 'evaluate'" in error
    assert (3, NODE[1], "query.init") in grid.answered and not results.data[4].errors
    held = grid.weights_held(list(NODE.values()))
    assert all(np.array_equal(a, b) for other in held[1:] for a, b in zip(held[0], other, strict=True))


@pytest.mark.parametrize("how, complaint", [
    ("silent", r"learner 2 \(SuperNode 114\) in round 1 did not answer 'evaluate' within 0.5 s"),
    ("failing", r"learner 2 \(SuperNode 114\) in round 1 failed on 'evaluate': the laptop's battery ran")])
def test_without_a_deadline_a_missing_learner_still_ends_the_run(how, complaint):
    grid = ClassroomGrid(NAMES[0], **{how: {2: {1}}})
    with pytest.raises(LearnerError, match=complaint) as raised:
        run(grid, round_deadline=None, timeout=0.5)
    assert (raised.value.learner_index, raised.value.round_index) == (2, 1)


def test_who_was_missing_is_data_that_a_results_file_keeps(tmp_path):
    """``Result.missing`` travels in the results file (the host's command reads it from the ServerApp's);
    a file written before it existed reads as nobody missing, and a learner that is not one is refused."""
    results = run(ClassroomGrid(NAMES[0], silent={2: {1}}))
    results.save(tmp_path / "results.json")
    loaded = Results.load(tmp_path / "results.json")
    assert [result.missing for result in loaded.data] == [[], [], [2], [], []]
    data = results.to_dict()
    del data["data"][2]["missing"]
    assert Results.from_dict(data).data[2].missing == []
    data["data"][2]["missing"] = [3]
    with pytest.raises(ValueError, match=r"round 2: missing: got \[3\]; expected a list of learners'"):
        Results.from_dict(data)


@pytest.mark.parametrize("deadline", [0, -1.0, math.inf, True, "10"])
def test_a_bad_round_deadline_is_refused_before_anything_runs(deadline):
    with pytest.raises(ValueError, match="round_deadline: got"):
        make_server_app(N_LEARNERS, N_ROUNDS, round_deadline=deadline)


def test_the_class_roster_says_who_was_missing_in_the_last_round(tmp_path):
    """The teacher's projector: each member's learner, name, and whether it answered the last round."""
    from colearn_nb.flower.classroom import ClassHost
    from colearn_nb.protocol.results import Result, Results

    host = ClassHost(tmp_path, n_learners=3, address="127.0.0.1")
    host.members = {f"key{i}": {"partition_id": i, "n_learners": 3, "name": name}
                    for i, name in enumerate(["ada", "bo", "cy"])}
    start = Result(False, [True] * 3, [0.5] * 3, [0.5] * 3)
    round_0 = Result(False, [None, False, False], [0.6, 0.5, float("nan")], [0.6, 0.5, float("nan")],
                     block_proposer=0, errors=["learner 2 (SuperNode 7) missing in round 0: no answer to "
                                               "'evaluate' within 30 s"], missing=[2])
    assert [row["last_round"] for row in host.roster(Results([start]))] == [None, None, None]
    assert host.roster(Results([start, round_0])) == [
        {"learner": 0, "name": "ada", "connection": None, "last_round": "answered"},
        {"learner": 1, "name": "bo", "connection": None, "last_round": "answered"},
        {"learner": 2, "name": "cy", "connection": None, "last_round": "missing"}]
