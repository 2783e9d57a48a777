"""What a learner did in a round (proposed, voted), as data: its ClientApp writes it, ``join`` shows it.

The ClientApp logs one line per proposal or vote and, when the environment variable ``EVENTS_VARIABLE``
names a file (a participant's worker has its ``logs/learner_events.jsonl``), appends the same event
there as one JSON line; ``join`` reads the lines back (``read_events``) and prints each event's
``line()``. Nothing reads the log's text.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)
EVENTS_VARIABLE = "COLEARN_LEARNER_EVENTS"  # the file a ClientApp appends its events to, if set
ACTIONS = ("proposed", "voted")


@dataclass(frozen=True)
class LearnerEvent:
    """One learner's part in a round: it proposed (its proposal's score) or voted (its vote, both scores).

    >>> LearnerEvent(3, "voted", 0.9297, vote=True, held_score=0.9219).line()
    'round 3: voted yes (the proposal scores 0.9297 on my vote set, my weights 0.9219)'
    """

    round_index: int
    action: str  # one of ACTIONS
    proposal_score: float  # the proposal's score on this learner's vote set
    vote: bool | None = None  # a voter's vote; None for the proposer
    held_score: float | None = None  # a voter's score of the weights it holds
    attack: str | None = None  # the attack the teacher made this proposer propose, if any

    def line(self) -> str:
        """The event as a participant reads it."""
        if self.action == "proposed" and self.attack:
            return (f"round {self.round_index}: proposed {self.attack} weights, as the teacher told this "
                    f"laptop (they score {self.proposal_score:.4g} on my vote set)")
        if self.action == "proposed":
            return (f"round {self.round_index}: proposed new weights (they score {self.proposal_score:.4g} "
                    "on my vote set)")
        return (f"round {self.round_index}: voted {'yes' if self.vote else 'no'} (the proposal scores "
                f"{self.proposal_score:.4g} on my vote set, my weights {self.held_score:.4g})")


def record_event(event: LearnerEvent) -> None:
    """Log ``event``'s line; append it as a JSON line to the file ``EVENTS_VARIABLE`` names, if any."""
    logger.info(event.line())
    path = os.environ.get(EVENTS_VARIABLE)
    if path:
        with open(path, "a") as events:
            events.write(json.dumps(asdict(event)) + "\n")  # one write of one line: never read half


def read_events(path: str | Path, position: int = 0) -> tuple[list[LearnerEvent], int]:
    """The events written to ``path`` after byte ``position`` (whole lines only), and the position after.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> _ = path.write_text('{"round_index": 0, "action": "proposed", "proposal_score": 0.5}\\n{"round')
    >>> events, position = read_events(path)
    >>> [event.action for event in events], position
    (['proposed'], 64)
    """
    try:
        with open(path, "rb") as events:
            events.seek(position)
            written = events.read()
    except FileNotFoundError:
        return [], position
    whole = written[:written.rfind(b"\n") + 1]
    events = [LearnerEvent(**json.loads(line)) for line in whole.splitlines() if line.strip()]
    return events, position + len(whole)
