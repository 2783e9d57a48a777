"""The in-process reference for a class under the teacher's controls: notebook 09's wrappers, by round."""
from __future__ import annotations

from colearn_nb import (
    RandomWeightsProposer,
    Results,
    SignFlipProposer,
    collective_learning_round,
    run_rounds,
)
from colearn_nb.protocol.class_controls import ClassControls

WRAPPERS = {"garbage": lambda learner, round_index: RandomWeightsProposer(learner, seed=round_index),
            "sign-flip": lambda learner, round_index: SignFlipProposer(learner)}


def rounds_under(learners, script: list[ClassControls]) -> Results:
    """Equal weights, then round ``k`` under ``script[k]``: a proposer told to attack is wrapped for it."""
    results = run_rounds(learners, 0)
    for round_index, controls in enumerate(script):
        proposer, acting = round_index % len(learners), list(learners)
        if proposer in controls.attacks:
            acting[proposer] = WRAPPERS[controls.attacks[proposer]](learners[proposer], round_index)
        result = collective_learning_round(acting, controls.vote_threshold, round_index)
        result.vote_threshold, result.attacks = controls.vote_threshold, controls.attack_list(len(learners))
        results.append(result)
    return results


def recorded_script(results: Results) -> list[ClassControls]:
    """The controls each round of ``results`` recorded (a class the teacher changed from its start)."""
    return [ClassControls(r.vote_threshold, {i: a for i, a in enumerate(r.attacks) if a})
            for r in results.data[1:]]
