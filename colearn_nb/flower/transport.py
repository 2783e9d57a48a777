"""How the ServerApp talks to the learners' SuperNodes: push messages, pull the replies, wait, time them.

The transport of ``server.py``'s round: ``send_and_receive`` polls every ``POLL_INTERVAL_S`` (Flower's own
Grid sleeps 3 s between pulls); ``collect`` keeps who answered and why the others did not; ``exchange``
raises for a missing reply. Taught in notebook 12 with the server.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..protocol.round import LearnerError

if TYPE_CHECKING:
    from flwr.app import Message, RecordDict
    from flwr.serverapp import Grid

logger = logging.getLogger(__name__)
POLL_INTERVAL_S: float | None = 0.02  # the deployment Grid's own send_and_receive sleeps 3 s between pulls


def send_and_receive(grid: Grid, messages: list[Message], timeout: float,
                     arrivals: dict[int, float] | None = None) -> dict[int, Message]:
    """Push ``messages``; pull replies every ``POLL_INTERVAL_S`` (Flower's own: ``grid.send_and_receive``).

    The replies by the node each message went to: Flower's own error reply for a node it no longer hears
    comes from the SuperLink, not the node, so a reply is matched by the message it answers, not its sender.
    ``arrivals``, if given, gets each node's seconds from the push to its reply's arrival.
    """
    sent, arrivals, replies = time.monotonic(), {} if arrivals is None else arrivals, {}
    if POLL_INTERVAL_S is None:
        for reply in grid.send_and_receive(messages, timeout=timeout):
            node = destination(messages, reply)
            replies[node], arrivals[node] = reply, time.monotonic() - sent
        return replies
    waiting = set(grid.push_messages(messages))  # the messages' ids, set on them as they are pushed
    deadline = time.monotonic() + timeout  # from after the push: an in-process grid answers inside it
    while waiting and time.monotonic() < deadline:
        for reply in grid.pull_messages(list(waiting)):
            waiting.discard(reply.metadata.reply_to_message_id)
            node = destination(messages, reply)
            replies[node], arrivals[node] = reply, time.monotonic() - sent
        if waiting:
            time.sleep(POLL_INTERVAL_S)
    return replies


def destination(messages: list[Message], reply: Message) -> int:
    """The node the message ``reply`` answers went to (its sender if no message of ``messages`` matches)."""
    answered = reply.metadata.reply_to_message_id
    return next((message.metadata.dst_node_id for message in messages
                 if message.metadata.message_id == answered), reply.metadata.src_node_id)


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
    replies = send_and_receive(grid, messages, timeout, arrivals)
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
