"""The notebooks' exercises: ``check_exercise(notebook, number, answer)`` says right or what to look at.

Every notebook's Exercises section has a cell to work in, which ends by putting the result in
``answer``, and a cell that runs ``check_exercise``. The checks look at what the answer *is* (the
``Results`` of a run, a model, a loader, a number) rather than comparing with a stored value where
they can: e.g. a run at ``vote_threshold=1.0`` must have no accepted round with a no vote. Questions
about ideas are multiple choice: the answer is the letter (or letters) of the choice.

Used in every notebook with exercises, 00 to 12, 14 and 15.
"""
from __future__ import annotations

import math
import pickle
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..protocol.checks import check_int
from ..protocol.interface import MachineLearningInterface, Weights
from ..protocol.results import Results
from ..pytorch.splitting import LearnerLoaders, label_counts, split_sizes
from .net import TutorialNet


@dataclass(frozen=True)
class Verdict:
    """What a check found: ``right`` and a message; shows as the message, is true when right."""

    right: bool
    message: str

    def __bool__(self) -> bool:
        return self.right

    def __repr__(self) -> str:
        return self.message


Check = Callable[[Any], Verdict]
CHECKS: dict[tuple[int, int], Check] = {}
EXPECTS: dict[tuple[int, int], str] = {}  # what each exercise's answer is, in plain words


class WrongKind(Exception):
    """An answer of another kind than the exercise asks for; the message says what it asks, in plain words."""


def _exercise(notebook: int, number: int, expects: str) -> Callable[[Check], Check]:
    """Register the check of exercise ``number`` of notebook ``notebook``; ``expects``: the answer's kind."""
    def register(check: Check) -> Check:
        CHECKS[notebook, number], EXPECTS[notebook, number] = check, expects
        return check
    return register


def right(message: str) -> Verdict:
    """A right answer, with what it shows."""
    return Verdict(True, f"right: {message}")


def not_yet(message: str) -> Verdict:
    """A wrong answer, with what to look at."""
    return Verdict(False, f"not yet: {message}")


def _notebook_number(notebook: Any) -> int:
    """12, "12" or "12_many_machines" -> 12."""
    text = str(notebook)
    digits = text[:2] if isinstance(notebook, str) and len(text) >= 2 and text[:2].isdigit() else notebook
    try:
        number = int(digits)
    except (TypeError, ValueError):
        number = -1
    known = sorted({n for n, _ in CHECKS})
    if isinstance(notebook, bool) or number not in known:
        raise ValueError(f"notebook: got {notebook!r}; expected a notebook number {known[0]} to {known[-1]}, "
                         "e.g. 5 or '05_run_rounds'")
    return number


def check_exercise(notebook: int | str, number: int, answer: Any) -> Verdict:
    """Check ``answer`` to exercise ``number`` of ``notebook``: "right: ..." or "not yet: ...".

    >>> check_exercise("00", 1, 1)
    right: 9 % 4 = 1, so learner 1 proposes in round 9
    >>> check_exercise(0, 1, 9).right
    False
    """
    notebook_number = _notebook_number(notebook)
    exercises = sorted(n for nb, n in CHECKS if nb == notebook_number)
    check_int("number", number, exercises[0], exercises[-1],
              hint=f" (notebook {notebook_number:02d}'s exercises)")
    if answer is None or answer is Ellipsis:
        return not_yet("`answer` is still empty: put your result in `answer` in the cell above, run it, "
                       "then run this cell again")
    try:
        return CHECKS[notebook_number, number](answer)
    except WrongKind as wrong:
        return not_yet(f"expected {wrong}; got {describe(answer)}")
    except Exception:  # whatever the check tripped on, the answer is not the kind the exercise asks for
        return not_yet(f"expected {EXPECTS[notebook_number, number]}; got {describe(answer)}")


def describe(answer: Any) -> str:
    """A short, readable account of ``answer`` for feedback: never more than a line.

    >>> describe(10**400), describe("a" * 200)[-8:], describe([1, 2])
    ('a whole number of 401 digits', 'aaaa ...', '[1, 2]')
    """
    if isinstance(answer, int) and not isinstance(answer, bool) and abs(answer) >= 10**15:
        return f"a whole number of {math.floor(math.log10(abs(answer))) + 1} digits"
    try:
        text = repr(answer)
    except Exception:  # a repr that fails: name the kind of thing instead
        text = f"a {type(answer).__name__}"
    text = " ".join(text.split())  # one line
    return text if len(text) <= 80 else f"{text[:76]} ..."


def _choice(answer: Any, correct: str, hints: dict[str, str], why: str) -> Verdict:
    """A multiple-choice answer: the letters in ``correct`` (any order, any case)."""
    if not isinstance(answer, str) or not answer.strip():
        return not_yet(f"answer with the letter(s) of your choice as a string, e.g. {correct[0]!r}")
    chosen = set(answer.replace(",", "").replace(" ", "").lower())
    if chosen == set(correct):
        return right(why)
    wrong = sorted(chosen - set(correct))
    if wrong and wrong[0] in hints:
        return not_yet(hints[wrong[0]])
    return not_yet(f"{len(correct)} of the choices are right; you chose {''.join(sorted(chosen))}")


def _results(answer: Any, what: str, n_learners: int | None = None) -> Results:
    """``answer`` (or a Dashboard's run) as Results with at least one round, else ``WrongKind``."""
    if isinstance(getattr(answer, "results", None), Results):  # a Dashboard (notebook 07): its run
        answer = answer.results
    if not isinstance(answer, Results):
        raise WrongKind(f"the Results of {what}")
    if len(answer) < 2:
        raise WrongKind(f"the Results of {what}, with at least one round after the start")
    if n_learners is not None and answer.n_learners != n_learners:
        raise WrongKind(f"the Results of {what}, with {n_learners} learners ({answer.n_learners} here)")
    return answer


def _others_votes(result: Any) -> list[Any]:
    """The votes of every learner but the proposer."""
    return [vote for i, vote in enumerate(result.votes) if i != result.block_proposer]


# ---- 00 start here ----------------------------------------------------------------------------------

@_exercise(0, 1, 'a whole number: the learner who proposes in round 9')
def _proposer_of_round_9(answer: Any) -> Verdict:
    if answer == 9 % 4 and not isinstance(answer, bool):
        return right("9 % 4 = 1, so learner 1 proposes in round 9")
    return not_yet("the proposer of round r is learner r % n_learners: what is 9 % 4?")


@_exercise(0, 2, 'two booleans: (accepted at 0.5, accepted at 0.75)')
def _accepted_at_two_thresholds(answer: Any) -> Verdict:
    if tuple(answer) == (True, False):
        return right("0.5 needs 4 * 0.5 = 2 yes votes (accepted); 0.75 needs 4 * 0.75 = 3 (rejected)")
    return not_yet("answer (accepted at 0.5, accepted at 0.75) as two booleans; the rule is "
                   "n_yes >= (n_learners - 1) * vote_threshold")


@_exercise(0, 3, "the letter of your choice as text, e.g. 'a'")
def _why_the_proposer_does_not_vote(answer: Any) -> Verdict:
    return _choice(answer, "b", {"a": "the proposer's vote is not counted at all, not counted twice",
                                 "c": "every learner has a vote set, the proposer too"},
                   "it trained the proposal on its own data, so its yes would tell the others nothing")


# ---- 01 the PyTorch baseline ------------------------------------------------------------------------

def _two_accuracies(answer: Any, first: str) -> tuple[float, float]:
    """(an accuracy, the 5-epoch baseline accuracy), both between 0 and 1."""
    mine, baseline = (float(x) for x in answer)
    if not (0 <= mine <= 1 and 0 <= baseline <= 1):
        raise WrongKind(f"({first}, baseline_accuracy), two accuracies between 0 and 1")
    return mine, baseline


@_exercise(1, 1, 'two accuracies between 0 and 1: (one epoch, baseline_accuracy)')
def _one_epoch(answer: Any) -> Verdict:
    one, five = _two_accuracies(answer, "the one-epoch accuracy")
    if one < 0.5:
        return not_yet(f"{one:.3f} is close to chance: train the fresh model for one epoch before evaluating")
    if one >= five:
        return not_yet(f"one epoch {one:.3f} >= five epochs {five:.3f}: is the first number from a fresh "
                       "TutorialNet trained once, and the second the notebook's baseline_accuracy?")
    return right(f"one epoch {one:.3f}, five epochs {five:.3f}: the four extra epochs buy "
                 f"{100 * (five - one):.1f} points")


@_exercise(1, 2, 'two accuracies between 0 and 1: (accuracy with 800 digits, baseline_accuracy)')
def _eight_hundred_digits(answer: Any) -> Verdict:
    small, full = _two_accuracies(answer, "the accuracy with 800 digits")
    if small < 0.3:
        return not_yet(f"{small:.3f} is close to chance: train the small model for the same 5 epochs")
    if small >= full:
        return not_yet(f"{small:.3f} with 800 digits >= {full:.3f} with all of them: is the first model "
                       "trained on Subset(train_data, range(800)) only?")
    return right(f"800 digits {small:.3f} against all 4,000 {full:.3f}: the gap collective learning tries to "
                 "close without moving the data")


@_exercise(1, 3, "the letters of your choices as text, e.g. 'ab'")
def _regression(answer: Any) -> Verdict:
    return _choice(answer, "ace", {"b": "the optimizer step works for any loss",
                                   "d": "the loop stays the same"},
                   "the loss, the last layer and the evaluation change; the loop and the optimizer stay")


# ---- 02 split the data ------------------------------------------------------------------------------

def _loaders(answer: Any) -> list[LearnerLoaders]:
    """``answer`` as a list of LearnerLoaders (what learner_loaders returns)."""
    if not (isinstance(answer, Sequence) and answer and all(isinstance(p, LearnerLoaders) for p in answer)):
        raise WrongKind("a list of LearnerLoaders, e.g. what learner_loaders(...) returns")
    return list(answer)


@_exercise(2, 1, 'a list of LearnerLoaders, e.g. what learner_loaders(...) returns')
def _vote_fraction(answer: Any) -> Verdict:
    rows = split_sizes(_loaders(answer))
    shares = {round(row["vote"] / (row["vote"] + row["test"]), 2) for row in rows}
    if shares != {0.8}:
        return not_yet(f"the vote sets hold {sorted(shares)} of each learner's held-out digits; "
                       "pass vote_fraction=0.8 to learner_loaders")
    return right(f"{rows[0]['vote']} vote and {rows[0]['test']} test digits per learner: less noisy votes, "
                 "a noisier reported test score")


def _equal_shares(sizes: Sequence[int], n: int, total: int) -> bool:
    """Whether ``sizes`` are prepare_data_split_list's: equal shares, the remainder to the last."""
    share = total // n
    return list(sizes) == [share] * (n - 1) + [total - share * (n - 1)]


@_exercise(2, 2, 'two lists of sizes: (sizes for 8 learners, sizes for 7 learners)')
def _split_sizes_8_and_7(answer: Any) -> Verdict:
    eight, seven = (list(sizes) for sizes in answer)
    total = sum(eight)
    if len(eight) != 8 or len(seven) != 7 or sum(seven) != total or total == 0:
        return not_yet("answer (sizes for 8 learners, sizes for 7 learners), each from "
                       "prepare_data_split_list")
    if not (_equal_shares(eight, 8, total) and _equal_shares(seven, 7, total)):
        return not_yet("every learner gets len(train_data) // n_learners; the last also gets the remainder")
    return right(f"{eight[0]} each for 8; {seven[0]} each for 7, and the last gets {seven[-1]}")


@_exercise(2, 3, 'a list of LearnerLoaders, e.g. what learner_loaders(...) returns')
def _skewed_split(answer: Any) -> Verdict:
    parts = _loaders(answer)
    for i, part in enumerate(parts):
        counts = np.sort(np.asarray(label_counts(part.train.labels)))
        top_two = float(counts[-2:].sum() / counts.sum())
        if top_two < 0.6:
            return not_yet(f"learner {i}'s two most common digits are {100 * top_two:.0f}% of its training "
                           "digits; sort the digits by label before cutting them into parts")
    return right("every learner holds mostly two digits: plot_label_histograms shows it")


# ---- 03 define the net ------------------------------------------------------------------------------

def _n_parameters(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@_exercise(3, 1, 'the model itself, e.g. answer = WideNet()')
def _wider_net(answer: Any) -> Verdict:
    if not isinstance(answer, torch.nn.Module):
        return not_yet("answer with the model itself, e.g. answer = WideNet()")
    if answer.conv1.out_channels != 32 or answer.conv2.in_channels != 32:
        return not_yet(f"conv1 has {answer.conv1.out_channels} output channels and conv2 "
                       f"{answer.conv2.in_channels} inputs; both should be 32")
    shape = tuple(answer(torch.zeros(2, 1, 28, 28)).shape)
    if shape != (2, 10):
        return not_yet(f"two digits in give an output of shape {shape}; expected (2, 10)")
    extra = _n_parameters(answer) - _n_parameters(TutorialNet())
    return right(f"{_n_parameters(answer):,} parameters, {extra:,} more than the tutorial's Net; fc1 is "
                 "unchanged because conv2 still has 50 outputs")


@_exercise(3, 2, 'a shape: two whole numbers, as model(...).shape gives')
def _batch_output_shape(answer: Any) -> Verdict:
    if tuple(answer) == (64, 10):
        return right("(64, 10): one row of 10 log-probabilities per digit")
    return not_yet(f"got {tuple(answer)}: run model(torch.zeros(64, 1, 28, 28)) and look at .shape")


@_exercise(3, 3, 'a number of megabytes')
def _megabytes_per_proposal(answer: Any) -> Verdict:
    n_bytes = 4 * _n_parameters(TutorialNet())
    megabytes = float(answer)
    if math.isclose(megabytes, n_bytes / 1e6, rel_tol=0.02) or math.isclose(megabytes, n_bytes / 2**20,
                                                                             rel_tol=0.02):
        return right(f"{n_bytes / 1e6:.2f} MB ({n_bytes / 2**20:.2f} MiB) per proposal, whatever the "
                     "data size")
    if math.isclose(megabytes, 8 * n_bytes / 1e6, rel_tol=0.02):
        return not_yet("that counts bits: a 32-bit float is 4 bytes")
    return not_yet("multiply the number of parameters by 4 bytes and divide by 1e6")


# ---- 04 wrap learners -------------------------------------------------------------------------------

@_exercise(4, 1, 'two proposals: (first, second), each from mli_propose_weights()')
def _two_proposals(answer: Any) -> Verdict:
    first, second = answer
    if not (isinstance(first, Weights) and isinstance(second, Weights)):
        return not_yet("answer (first, second): two results of mli_propose_weights()")
    if first is second or all(torch.equal(first.weights[k], second.weights[k]) for k in first.weights):
        return not_yet("the two are equal: call mli_propose_weights() twice, once for each")
    return right("they differ: both start from the same current weights, but the data is shuffled "
                 "differently")


@_exercise(4, 2, 'a PytorchLearner')
def _vote_on_the_loss(answer: Any) -> Verdict:
    if not hasattr(answer, "minimise_criterion"):
        return not_yet("answer with a PytorchLearner built to vote on the loss")
    if answer.vote_criterion is not None:
        return not_yet("it still votes with vote_criterion: leave it out, and the mean loss is the score")
    if not answer.minimise_criterion:
        return not_yet("a lower loss is better: set minimise_criterion=True")
    return right("no vote_criterion (the mean loss is the score) and minimise_criterion=True")


@_exercise(4, 3, 'the ValueError that set_equal_weights raises (except ValueError as error: answer = error)')
def _different_architecture(answer: Any) -> Verdict:
    message = str(answer)
    if not isinstance(answer, (ValueError, str)) or "different model" not in message:
        return not_yet("answer with the ValueError that set_equal_weights raises "
                       "(except ValueError as error: answer = error)")
    return right(f"set_equal_weights refuses before changing anyone: {message.split(';')[0]}")


# ---- 05 run the rounds ------------------------------------------------------------------------------

def _unanimous(answer: Any) -> Verdict:
    results = _results(answer, "a run at vote_threshold=1.0")
    for round_index, result in enumerate(results.data[1:]):
        if result.vote and not all(vote is True for vote in _others_votes(result)):
            return not_yet(f"round {round_index} was accepted with a no vote: that happens below "
                           "vote_threshold=1.0; pass vote_threshold=1.0")
    return right(f"{results.n_accepted} accepted, {results.n_rejected} rejected, final mean test score "
                 f"{results.shared_model_scores[-1]:.3f}: one learner's no is enough to block a proposal")


CHECKS[5, 1], EXPECTS[5, 1] = _unanimous, "the Results of 20 rounds from fresh learners"


@_exercise(5, 2, 'two Results: (your Results, results)')
def _written_out_rounds(answer: Any) -> Verdict:
    mine, library = (_results(r, "20 rounds") for r in answer)
    if mine is library or len(mine) != len(library):
        return not_yet(f"answer (mine, results): your Results ({len(mine)} entries) and the library's "
                       f"({len(library)})")
    for index, (a, b) in enumerate(zip(mine.data, library.data, strict=True)):
        if (a.votes, a.vote_scores, a.test_scores, a.vote) != (b.votes, b.vote_scores, b.test_scores, b.vote):
            where = "the start" if index == 0 else f"round {index - 1}"
            return not_yet(f"{where} differs: are the learners fresh_learners(), and each Result "
                           "built from one_round's tested list?")
    return right(f"every vote and score of the {len(mine) - 1} rounds is the library's")


@_exercise(5, 3, 'the Results of 20 rounds of individual_training_round')
def _alone_longer(answer: Any) -> Verdict:
    alone = _results(answer, "20 rounds of individual_training_round")
    if any(r.block_proposer is not None for r in alone.data[1:]):
        return not_yet("these are collective rounds (a proposer each): use individual_training_round")
    return right(f"alone, {len(alone) - 1} epochs each: mean test accuracy {alone.mean_test_scores[-1]:.3f}; "
                 "compare it with the collective run's")


# ---- 06 your own learner ----------------------------------------------------------------------------

@_exercise(6, 1, 'two Results: (greedy_results, results)')
def _greedy(answer: Any) -> Verdict:
    greedy, normal = (_results(r, "run_rounds") for r in answer)
    if greedy.n_rejected <= normal.n_rejected:
        return not_yet(f"the greedy run rejected {greedy.n_rejected}, the normal one {normal.n_rejected}: "
                       "answer (greedy_results, results), the greedy learners' run first")
    return right(f"{greedy.n_rejected} of {len(greedy) - 1} rejected against {normal.n_rejected}: a proposal "
                 "fitted to one learner's digits rarely beats the shared model on the others' vote sets")


@_exercise(6, 2, "the letter of your choice as text, e.g. 'a'")
def _from_scratch(answer: Any) -> Verdict:
    return _choice(answer, "a", {"b": "partial_fit and fit can both be called many times",
                                 "c": "the threshold is whatever run_rounds was given"},
                   "a proposal from scratch holds only the proposer's slice, not the shared model plus a "
                   "step")


@_exercise(6, 3, 'the Results of run_rounds with four SGDLearners')
def _four_learners(answer: Any) -> Verdict:
    results = _results(answer, "run_rounds with four SGDLearners")
    if results.n_learners != 4:
        return not_yet(f"the run has {results.n_learners} learners: build four parts and four SGDLearners")
    return right(f"4 learners, {len(results) - 1} rounds, final mean test accuracy "
                 f"{results.mean_test_scores[-1]:.3f}: only the data split changed")


# ---- 07 dashboard -----------------------------------------------------------------------------------

CHECKS[7, 1], EXPECTS[7, 1] = _unanimous, "the Results of 20 rounds from fresh learners"


@_exercise(7, 2, 'the Results of 20 rounds from fresh learners')
def _threshold_zero(answer: Any) -> Verdict:
    results = _results(answer, "a run at vote_threshold=0.0")
    if results.n_rejected:
        return not_yet(f"{results.n_rejected} proposals were rejected: at 0.0, 0 yes votes are enough")
    no_votes = sum(_others_votes(r).count(False) for r in results.data[1:])
    return right(f"all {results.n_accepted} accepted, {no_votes} no votes ignored; final mean test score "
                 f"{results.shared_model_scores[-1]:.3f}")


@_exercise(7, 3, 'the LivePlot you passed to run_rounds')
def _eager_plot(answer: Any) -> Verdict:
    if not hasattr(answer, "n_frames"):
        return not_yet("answer with the LivePlot you passed to run_rounds")
    if answer.min_interval != 0 or answer.max_share < 1:
        return not_yet(f"this plot has min_interval={answer.min_interval} and max_share={answer.max_share}: "
                       "make them 0 and 1.0")
    if answer.n_frames < 2:
        return not_yet("it drew no rounds yet: pass it as on_round= to run_rounds")
    return right(f"{answer.n_frames} frames in {answer.seconds_drawing:.2f} s of drawing; compare with the "
                 "default plot's printout in Step 3")


# ---- 08 uneven data ---------------------------------------------------------------------------------

@_exercise(8, 1, "two Results: (the shards run, runs['iid'])")
def _shards(answer: Any) -> Verdict:
    shards, iid = (_results(r, "run") for r in answer)
    if shards.n_accepted >= iid.n_accepted:
        return not_yet(f"{shards.n_accepted} accepted against {iid.n_accepted}: answer "
                       "(shards, runs['iid']), the shards run first")
    return right(f"{shards.n_accepted} accepted on shards against {iid.n_accepted} on iid: a proposal that "
                 "helps two digits hurts the others'")


@_exercise(8, 2, 'a list of LearnerLoaders, e.g. what learner_loaders(...) returns')
def _nearly_even(answer: Any) -> Verdict:
    worst = 0.0
    for part in _loaders(answer):
        shares = np.asarray(label_counts(part.train.labels)) / len(part.train.labels)
        worst = max(worst, float(np.abs(shares - 0.1).max()))
    if worst > 0.05:
        return not_yet(f"a learner's share of some digit is {worst:.2f} away from a tenth: look at "
                       "plot_label_histograms of your loaders; is alpha as large as the exercise asks?")
    return right(f"every learner holds each digit within {worst:.3f} of a tenth: like iid")


@_exercise(8, 3, 'a list of PytorchLearners')
def _loss_voters(answer: Any) -> Verdict:
    learners = list(answer)
    if not learners or not all(hasattr(learner, "minimise_criterion") for learner in learners):
        return not_yet("answer with the list of PytorchLearners you built")
    if any(learner.vote_criterion is not None or not learner.minimise_criterion for learner in learners):
        return not_yet("every learner needs vote_criterion left out and minimise_criterion=True")
    if any(learner.num_train_batches != 4 for learner in learners):
        return not_yet("compare like with like: num_train_batches=4, as in this notebook")
    return right(f"{len(learners)} learners voting on the loss; run them and compare n_accepted")


# ---- 09 bad actors ----------------------------------------------------------------------------------

@_exercise(9, 1, 'the Results of a run of 5 learners')
def _one_veto(answer: Any) -> Verdict:
    results = _results(answer, "run([([4], AlwaysNoVoter)], vote_threshold=1.0)", n_learners=5)
    others = [i for i, r in enumerate(results.data[1:], start=1) if r.vote and r.block_proposer != 4]
    if others:
        return not_yet(f"round {others[0]}'s proposal passed: with threshold 1.0 learner 4's no blocks it; "
                       "wrap learner 4 in AlwaysNoVoter and pass vote_threshold=1.0")
    return right(f"{results.n_accepted} accepted, all of them learner 4's own: one veto stops everyone else")


@_exercise(9, 2, 'a list of learners')
def _colluders(answer: Any) -> Verdict:
    learners = list(answer)
    colluders = [i for i, learner in enumerate(learners) if type(learner).__name__ == "AlwaysYesVoter"
                 and type(learner.learner).__name__ == "RandomWeightsProposer"]
    if len(colluders) < 2:
        return not_yet(f"learners {colluders} propose garbage and vote yes; wrap two of them in "
                       "AlwaysYesVoter(RandomWeightsProposer(learner))")
    return right(f"learners {colluders} propose garbage and approve everything: together they reach 0.5 "
                 "on their own")


@_exercise(9, 3, 'two things: (learners, Results), the list of learners and their run')
def _gentle_sign_flip(answer: Any) -> Verdict:
    learners, results = answer
    flipped = [i for i, learner in enumerate(learners) if type(learner).__name__ == "SignFlipProposer"]
    if flipped != [1] or learners[1].scale >= 1:
        return not_yet("answer (learners, results) with learner 1 in SignFlipProposer(..., scale=0.1)")
    rounds = [r for r in _results(results, "the run").data[1:] if r.block_proposer == 1]
    told = "; ".join(f"{sum(v is True for v in _others_votes(r))} yes, "
                     f"{'accepted' if r.vote else 'rejected'}" for r in rounds)
    return right(f"learner 1's gentle flips: {told}")


# ---- 10 differential privacy ------------------------------------------------------------------------

@_exercise(10, 1, 'two numbers: (epsilon with max_grad_norm=0.1, epsilon with 1.0)')
def _clip_harder(answer: Any) -> Verdict:
    clipped, unclipped = (float(x) for x in answer)
    if clipped <= 0 or unclipped <= 0:
        return not_yet("answer (epsilon with max_grad_norm=0.1, epsilon with 1.0): both runs private")
    if not math.isclose(clipped, unclipped, rel_tol=1e-6):
        return not_yet(f"{clipped:.3f} against {unclipped:.3f}: were the noise multipliers the same?")
    return right(f"epsilon {clipped:.3f} both times: it depends on the noise, the sampling rate and the "
                 "steps, not on the clipping norm")


@_exercise(10, 2, 'two things: (number of proposals, the learner)')
def _proposals_in_budget(answer: Any) -> Verdict:
    n_proposals, learner = answer
    privacy = learner.privacy
    steps = sum(entry[2] for entry in privacy.accountant.history)
    per_proposal = privacy.steps_per_training(learner.num_train_batches)
    if not privacy.budget_exceeded(learner.num_train_batches):
        return not_yet("this learner could still propose: keep proposing until the summary has an error_code")
    if n_proposals * per_proposal != steps:
        return not_yet(f"the learner trained {steps // per_proposal} proposals; count only those without "
                       "an error_code")
    return right(f"{n_proposals} proposals spend epsilon {privacy.epsilon():.2f} of "
                 f"{privacy.config.target_epsilon}; one more would pass it")


@_exercise(10, 3, "the letter of your choice as text, e.g. 'a'")
def _delta(answer: Any) -> Verdict:
    return _choice(answer, "a", {"b": "delta adds no noise: the noise multiplier does",
                                 "c": "delta is a probability, not a training setting"},
                   "epsilon holds except with probability delta: a larger delta buys a smaller epsilon")


# ---- 11 fair comparison -----------------------------------------------------------------------------

@_exercise(11, 1, 'the Comparison that compare_fairly returns')
def _full_pass(answer: Any) -> Verdict:
    batches = answer.training_batches["collective"][-1]
    if batches <= 4 * answer.n_rounds:
        return not_yet(f"{batches} batches in {answer.n_rounds} rounds: leave out num_train_batches")
    gaps = ", ".join(f"{name} {score:.3f}" for name, score in answer.final().items())
    return right(f"{batches // answer.n_rounds} batches a round; final: {gaps}")


@_exercise(11, 2, 'a dict {threshold: number of accepted proposals}')
def _thresholds(answer: Any) -> Verdict:
    accepted = [answer[t] for t in sorted(answer)]
    if len(accepted) < 2:
        return not_yet("answer {threshold: n_accepted} for at least two thresholds")
    if any(later > earlier for earlier, later in zip(accepted, accepted[1:], strict=False)):
        return not_yet(f"accepted by threshold: {dict(answer)}; a higher threshold should not accept more: "
                       "are the counts collective learning's n_accepted?")
    return right(f"accepted by threshold: {dict(sorted(answer.items()))}; only collective learning votes")


@_exercise(11, 3, "the letter of your choice as text, e.g. 'a'")
def _scored_on_own_digits(answer: Any) -> Verdict:
    return _choice(answer, "a", {"b": "test digits are never sent anywhere: scoring happens at each learner",
                                 "c": "the scoring costs the same either way"},
                   "every approach is scored the same way, each learner's model on its own test digits")


# ---- 12 many machines -------------------------------------------------------------------------------

@_exercise(12, 1, 'two Results: (results, expected)')
def _same_on_flower(answer: Any) -> Verdict:
    flower, here = (_results(r, "a run") for r in answer)
    if flower is here:
        return not_yet("answer (results, expected): the Flower run and the in-process one")
    if [r.vote for r in flower.data[1:]] != [r.vote for r in here.data[1:]]:
        return not_yet("the decisions differ: were both runs made with the same factory and seed?")
    accepted = [i for i, r in enumerate(flower.data[1:], start=1) if r.vote]
    return right(f"rounds {accepted} accepted in both runs: the same work in the same order, in other "
                 "processes")


@_exercise(12, 2, 'a whole number: the learner who proposes')
def _proposer_on_flower(answer: Any) -> Verdict:
    if answer == 3 % 4 and not isinstance(answer, bool):
        return right("learner 3: round_index % n_learners, in the order of the partition ids")
    return not_yet("Flower's node ids are random; the ServerApp orders learners by partition-id: 3 % 4 = ?")


@_exercise(12, 3, 'the function itself: answer = my_learner')
def _flower_factory(answer: Any) -> Verdict:
    if not callable(answer):
        return not_yet("answer with the function itself: answer = my_learner")
    try:
        learners = [answer(0), answer(1)]
    except Exception as error:  # whatever it raises here, Flower would raise in every process
        return not_yet(f"my_learner(0) stopped with an error ({textwrap.shorten(str(error), 200)}); fix it "
                       "here first: Flower would raise it in every process")
    if not all(isinstance(learner, MachineLearningInterface) for learner in learners):
        return not_yet("my_learner(partition_id) must return a learner (a MachineLearningInterface)")
    return _picklable(answer)


def _picklable(factory: Callable[[int], Any]) -> Verdict:
    """Whether Flower can send ``factory`` to its processes (by value, with cloudpickle, as Ray does)."""
    try:
        import cloudpickle
        dumps = cloudpickle.dumps
    except ImportError:
        dumps = pickle.dumps
    try:
        dumps(factory)
    except Exception as error:
        return not_yet(f"the function cannot be sent to other processes ({error}): define it at the top "
                       "level")
    return right("my_learner builds learners here and can be sent to Flower's processes: now run it on "
                 "Flower")


# ---- 14 robustness lab ------------------------------------------------------------------------------

@_exercise(14, 1, 'the RobustnessLab that robustness_lab returns')
def _strict_threshold(answer: Any) -> Verdict:
    approaches, attacks = answer.settings.approaches(), answer.attacks()
    if "vote 0.75" not in approaches:
        return not_yet(f"the lab voted at {[a for a in approaches if a.startswith('vote')]}: run it with "
                       "LabSettings(thresholds=(0.75,))")
    if "colluding ring" not in attacks or 0.5 not in answer.fractions():
        return not_yet("run the colluding ring at half the learners: fractions=(0.5,), "
                       "attacks=('colluding ring',)")
    ring, none = (answer.accuracy("colluding ring", f, "vote 0.75") for f in (0.5, 0.0))
    return right(f"at 0.75 the ring's 3 yes votes never pass: accuracy {ring:.3f} with the ring, {none:.3f} "
                 "without; the honest proposals need 6 yes votes of 7 now")


@_exercise(14, 2, "the letter of your choice as text, e.g. 'a'")
def _taken_whole(answer: Any) -> Verdict:
    return _choice(answer, "a", {"b": "both approaches train the same number of batches here (Step 1)",
                                 "c": "the proposer does not vote on its own proposal"},
                   "one proposer per round: what passes is taken whole; a median sees every client")


# ---- 15 non-iid lab ---------------------------------------------------------------------------------

def _gains(answer: Any, what: str) -> Any:
    """``answer`` when it is a ``LearnerGains`` (from ``compare_gains``), else ``WrongKind``."""
    from .gains import LearnerGains

    if not isinstance(answer, LearnerGains):
        raise WrongKind(what)
    return answer


@_exercise(15, 1, "a pair (gains, losers): a LearnerGains and a list of learner numbers")
def _losers(answer: Any) -> Verdict:
    gains, losers = answer
    gains = _gains(gains, "a pair (gains, losers): first the split's LearnerGains, runs[...][0]")
    expected = [i for i, gain in enumerate(gains.gains()["voting"]) if gain < 0]
    if not isinstance(losers, list | tuple) or sorted(losers) != expected:
        return not_yet(f"losers: got {describe(losers)}; take the learners whose gains()['voting'] is "
                       "below 0")
    return right(f"learners {expected} lose by voting, {len(gains.alone) - len(expected)} do not: their own "
                 "skewed test digits favour their own models")


@_exercise(15, 2, "a pair (longer, runs['2 labels'][0]): two LearnerGains")
def _twice_the_rounds(answer: Any) -> Verdict:
    longer, before = (_gains(g, "two LearnerGains: (longer, runs['2 labels'][0])") for g in answer)
    budgets = [g.training_batches() or 0 for g in (longer, before)]
    if not budgets[1] or budgets[0] < 2 * budgets[1]:
        return not_yet(f"training batches: {budgets[0]} against {budgets[1]}; run compare_gains with twice "
                       "n_rounds and answer (longer, runs['2 labels'][0]) in that order")
    moved = longer.mean_score("FedAvg") - before.mean_score("FedAvg")
    return right(f"FedAvg {before.mean_score('FedAvg'):.3f} -> {longer.mean_score('FedAvg'):.3f} "
                 f"({moved:+.3f}); proposals accepted by the vote: {longer.n_accepted}")


@_exercise(15, 3, "the letter of your choice as text, e.g. 'a'")
def _which_model(answer: Any) -> Verdict:
    return _choice(answer, "b", {"a": "it scores higher only on its own test digits, which are all one digit",
                                 "c": "both are scored on the same test digits: that is what makes the gain "
                                      "a comparison"},
                   "on its own test digits a one-digit model is always right; on any digit it meets later it "
                   "is right a tenth of the time")
