"""The teacher's live controls of a class, as data: the vote threshold and which laptops attack.

Between rounds the teacher (the ``host`` command or the projector page) may turn a laptop's learner into a
bad actor, notebook 09's way: ``"garbage"`` (it proposes random weights, ``RandomWeightsProposer``) or
``"sign-flip"`` (it trains, then proposes the update reversed, ``SignFlipProposer``); lift it again; or
change the vote threshold. The host writes the controls to a file the ServerApp reads before each round
(``ResultsFiles.controls``); from the teacher's first change on, every round's ``Result`` records the
controls it ran under (``vote_threshold``, ``attacks``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

from .checks import check_choice, check_int, check_vote_threshold

ATTACKS = ("garbage", "sign-flip")  # what the teacher can make a laptop's learner propose
ATTACK_WORDS = {"garbage": "garbage", "sign-flip": "a sign-flipped update"}  # "learner 2 proposes ..."


@dataclass(frozen=True)
class ClassControls:
    """The vote threshold, and the learners the teacher made bad actors (learner -> one of ``ATTACKS``).

    >>> controls = ClassControls(0.5).with_attack(2, "garbage", n_learners=3)
    >>> controls.attacks, controls.attack_list(3)
    ({2: 'garbage'}, [None, None, 'garbage'])
    >>> ClassControls.from_json(controls.to_json()) == controls
    True
    """

    vote_threshold: float
    attacks: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_vote_threshold(self.vote_threshold)
        for learner, attack in self.attacks.items():
            check_int("learner", learner, minimum=0)
            check_choice("attack", attack, ATTACKS)

    def with_attack(self, learner: int, attack: str | None, n_learners: int) -> ClassControls:
        """These controls with ``learner`` proposing ``attack`` (``None``: honest again)."""
        check_int("learner", learner, minimum=0, maximum=n_learners - 1,
                  hint=f" (the class's learners are 0 to {n_learners - 1})")
        attacks = {i: kind for i, kind in self.attacks.items() if i != learner}
        if attack is not None:
            attacks[learner] = check_choice("attack", attack, ATTACKS)
        return replace(self, attacks=dict(sorted(attacks.items())))

    def with_threshold(self, vote_threshold: float) -> ClassControls:
        """These controls with another vote threshold, in [0, 1]."""
        return replace(self, vote_threshold=check_vote_threshold(vote_threshold))

    def attack_list(self, n_learners: int) -> list[str | None]:
        """Each learner's attack, ``None`` for an honest one (what a round's ``Result.attacks`` holds)."""
        return [self.attacks.get(i) for i in range(n_learners)]

    def to_json(self) -> str:
        """The controls as JSON, learners' indices as keys."""
        return json.dumps({"vote_threshold": self.vote_threshold,
                           "attacks": {str(i): kind for i, kind in self.attacks.items()}})

    @classmethod
    def from_json(cls, text: str) -> ClassControls:
        """Inverse of ``to_json``, checked (``ValueError`` says what is wrong)."""
        data: Any = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("attacks"), dict):
            raise ValueError(f"controls: got {text[:200]!r}; expected the JSON ClassControls.to_json writes")
        attacks = {}
        for learner, kind in data["attacks"].items():
            if not str(learner).isdigit():
                raise ValueError(f"controls: attacks: got learner {learner!r}; expected a learner's index")
            attacks[int(learner)] = kind
        return cls(data["vote_threshold"] if "vote_threshold" in data else math.nan, attacks)

    def describe(self) -> str:
        """The controls in words, e.g. ``threshold 0.5; learner 2 proposes garbage``."""
        said = [f"learner {i} proposes {ATTACK_WORDS[kind]}" for i, kind in self.attacks.items()]
        return "; ".join([f"threshold {self.vote_threshold:g}", *said] if said else
                         [f"threshold {self.vote_threshold:g}", "every learner honest"])
