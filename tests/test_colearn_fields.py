"""Every field of every Result, colearn 0.2.8 against the kit, on identical learners.

colearn 0.2.8 (the last release) needs Python < 3.9, so pip will not install it beside this
kit; ``pip install --no-deps --ignore-requires-python colearn==0.2.8`` makes its protocol
modules importable (they need only pydantic and numpy), and then the real package is compared
too. Without it, ``colearn_0_2_8`` below, a transcription of colearn 0.2.8's
``colearn/training.py``, ``colearn/standalone_driver.py`` and ``colearn/utils/results.py``, is
the reference; ``test_reference_is_colearn_0_2_8`` checks it against the real package when present.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import fields
from types import SimpleNamespace

import pytest
import torch
from conftest import make_learner

import colearn_nb
from colearn_nb import Result


def _colearn_0_2_8_reference() -> SimpleNamespace:
    """colearn 0.2.8's training functions, as published (prints left out): the reference of this module."""

    class Result:  # colearn/utils/results.py
        def __init__(self):
            self.vote = False
            self.votes = []
            self.test_scores = []
            self.vote_scores = []
            self.block_proposer = None

    def run_one_round(round_index, learners, vote_threshold=0.5):  # colearn/standalone_driver.py
        proposer = round_index % len(learners)
        new_weights = learners[proposer].mli_propose_weights()
        prop_weights_list = [ln.mli_test_weights(new_weights) for ln in learners]
        prop_weights_list[proposer].vote = None
        approves = sum(1 if v.vote else 0 for v in prop_weights_list)
        vote = False
        if approves >= (len(prop_weights_list) - 1) * vote_threshold:
            vote = True
            for learner in learners:
                learner.mli_accept_weights(new_weights)
        return prop_weights_list, vote

    def set_equal_weights(learners):  # colearn/training.py, from here on
        first_learner_weights = learners[0].mli_get_current_weights()
        for learner in learners[1:]:
            learner.mli_accept_weights(first_learner_weights)

    def initial_result(learners):
        result = Result()
        for learner in learners:
            proposed_weights = learner.mli_test_weights(learner.mli_get_current_weights())
            result.test_scores.append(proposed_weights.test_score)
            result.vote_scores.append(proposed_weights.vote_score)
            result.votes.append(True)
        return result

    def collective_learning_round(learners, vote_threshold, round_index):
        result = Result()
        proposed_weights_list, vote = run_one_round(round_index, learners, vote_threshold)
        result.vote = vote
        result.votes = [pw.vote for pw in proposed_weights_list]
        result.vote_scores = [pw.vote_score for pw in proposed_weights_list]
        result.test_scores = [pw.test_score for pw in proposed_weights_list]
        result.block_proposer = round_index % len(learners)
        return result

    def individual_training_round(learners, round_index):
        result = Result()
        for learner in learners:
            weights = learner.mli_propose_weights()
            proposed_weights = learner.mli_test_weights(weights)
            learner.mli_accept_weights(weights)
            result.votes.append(True)
            result.vote_scores.append(proposed_weights.vote_score)
            result.test_scores.append(proposed_weights.test_score)
        return result

    return SimpleNamespace(Result=Result, set_equal_weights=set_equal_weights, initial_result=initial_result,
                           collective_learning_round=collective_learning_round,
                           individual_training_round=individual_training_round)


def _real_colearn() -> SimpleNamespace | None:
    """colearn's own training module and Result, when colearn is importable; else None."""
    try:
        training = importlib.import_module("colearn.training")
        results = importlib.import_module("colearn.utils.results")
    except ImportError:
        return None
    return SimpleNamespace(Result=results.Result, set_equal_weights=training.set_equal_weights,
                           initial_result=training.initial_result,
                           collective_learning_round=training.collective_learning_round,
                           individual_training_round=training.individual_training_round)


REFERENCES = {"reference": _colearn_0_2_8_reference(), "colearn": _real_colearn()}
NOT_IMPORTABLE = ("colearn is not importable (colearn 0.2.8 requires Python < 3.9; "
                  "`pip install --no-deps --ignore-requires-python colearn==0.2.8` adds it)")
COLEARN_FIELDS = ("vote", "votes", "vote_scores", "test_scores", "block_proposer")
# The kit's additions, absent from colearn 0.2.8's Result; see README, "Code written for the original colearn"
KIT_ONLY_FIELDS = ("training_summaries", "errors", "missing", "vote_threshold", "attacks")
THRESHOLDS = [0.5] * 4 + [1.0] * 4  # both accepted and rejected proposals


def reference(name: str) -> SimpleNamespace:
    if REFERENCES[name] is None:
        pytest.skip(NOT_IMPORTABLE)
    return REFERENCES[name]


def make_learners(n: int = 3) -> list:
    torch.manual_seed(0)
    return [make_learner(seed=i, maximise=True, shuffle=True) for i in range(n)]


class ProposalRecorder:
    """Wraps a learner, keeping the training summary of every proposal it makes."""

    def __init__(self, learner):
        self.learner, self.summaries = learner, []

    def __getattr__(self, name):
        return getattr(self.learner, name)

    def mli_propose_weights(self):
        proposal = self.learner.mli_propose_weights()
        self.summaries.append(proposal.training_summary)
        return proposal


def run_everything(api, learners) -> list:
    """The start, collective rounds at 0.5 then 1.0, then two rounds of training alone: every Result."""
    api.set_equal_weights(learners)
    results = [api.initial_result(learners)]
    for round_index, threshold in enumerate(THRESHOLDS):
        results.append(api.collective_learning_round(learners, threshold, round_index))
    for round_index in range(2):
        results.append(api.individual_training_round(learners, round_index))
    return results


def same(a, b) -> bool:
    """Equal values, NaN equal to NaN, element by element in lists."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_every_field_is_compared():
    assert {f.name for f in fields(Result)} == set(COLEARN_FIELDS) | set(KIT_ONLY_FIELDS), \
        "a new Result field: say here whether it matches colearn's or is the kit's own"
    assert set(vars(REFERENCES["reference"].Result())) == set(COLEARN_FIELDS)


@pytest.mark.parametrize("name", ["reference", "colearn"])
def test_every_field_of_every_result_matches_colearn(name):
    api = reference(name)
    theirs = run_everything(api, make_learners())
    recorded = [ProposalRecorder(learner) for learner in make_learners()]
    ours = run_everything(colearn_nb, recorded)
    assert len(ours) == len(theirs) == 1 + len(THRESHOLDS) + 2
    accepted = [r.vote for r in ours[1:1 + len(THRESHOLDS)]]
    assert True in accepted and False in accepted, "the run covers accepted and rejected proposals"
    for index, (our, their) in enumerate(zip(ours, theirs, strict=True)):
        assert set(vars(their)) <= set(COLEARN_FIELDS), f"Result {index}: colearn has {sorted(vars(their))}"
        for field_name in COLEARN_FIELDS:
            kit, colearn = getattr(our, field_name), getattr(their, field_name)
            assert same(kit, colearn), f"Result {index}, {field_name}: kit {kit!r}, colearn {colearn!r}"
        assert our.errors == [], f"Result {index}: no learner abstained, no proposal refused"
    assert ours[0].training_summaries == [], "the start trains nothing"
    for round_index, result in enumerate(ours[1:1 + len(THRESHOLDS)]):
        proposal = recorded[result.block_proposer].summaries[round_index // len(recorded)]
        assert result.training_summaries == [proposal], "the kit keeps the proposal's training summary"
    for k, result in enumerate(ours[1 + len(THRESHOLDS):]):  # each learner's last two proposals: alone
        assert result.training_summaries == [learner.summaries[k - 2] for learner in recorded]


def test_reference_is_colearn_0_2_8():
    """The transcription above does what the real package does (run only where colearn is importable)."""
    real = reference("colearn")
    ours = run_everything(REFERENCES["reference"], make_learners())
    theirs = run_everything(real, make_learners())
    assert [vars(r) for r in ours] == [vars(r) for r in theirs]
