"""Results as text: the round in words, the shared model's score, the table of the vote (notebooks 04 and 05).

Rounds are numbered as ``collective_learning_round`` takes them (``round_label``): ``Results.data[0]`` is the
"start", ``data[k]`` the round run with ``round_index = k - 1``. ``viz`` draws with the same helpers.
"""
from __future__ import annotations

import math
from typing import Any

from .results import DP_BUDGET_EXCEEDED, Result, Results, mean


def format_score(x: Any) -> str:
    """A score as printed: a finite float with 4 decimals, anything else as ``str``.

    >>> format_score(0.5), format_score(float("nan")), format_score(None)
    ('0.5000', 'nan', 'None')
    """
    return f"{x:.4f}" if isinstance(x, float) and math.isfinite(x) else str(x)


def round_label(data_index: int) -> str:
    """The round of ``Results.data[data_index]``: "start" for the initial scores, else its ``round_index``.

    ``data[0]`` holds the scores before any round; ``data[k]`` is the round run with ``round_index = k - 1``,
    in which learner ``(k - 1) % n_learners`` proposed.

    >>> round_label(0), round_label(1), round_label(20)
    ('start', '0', '19')
    """
    return "start" if data_index == 0 else str(data_index - 1)


def round_headline(results: Results) -> str:
    """The last round in words: its ``round_index``, who proposed, accepted or not and the yes votes.

    >>> round_headline(Results([Result(False, [True, True], [0.5, 0.6], [0.4, 0.5])]))
    'Start: equal starting weights, before round 0 (no vote)'
    """
    last, data_index = results.data[-1], len(results.data) - 1
    if data_index == 0:
        return "Start: equal starting weights, before round 0 (no vote)"
    if last.block_proposer is None:
        done = "trained and took the aggregate" if last.vote else "trained alone"
        return f"Round {data_index - 1}: every learner {done} (no vote)"
    yes = sum(v is True for v in last.votes)
    return (f"Round {data_index - 1}: learner {last.block_proposer} {proposed(last)}, "
            f"{'accepted' if last.vote else 'rejected'} ({yes} of {len(last.votes) - 1} voted yes)")


def proposed(result: Result) -> str:
    """``"proposed"``, or what the teacher told the proposer to propose in a class (``Result.attacks``).

    >>> proposed(Result(block_proposer=1, attacks=[None, "garbage"]))
    "proposed garbage (the teacher's attack)"
    """
    attack = result.attacks[result.block_proposer] if result.attacks and result.block_proposer is not None \
        else None
    return f"proposed {attack} (the teacher's attack)" if attack else "proposed"


def shared_model_line(results: Results, score_name: str = "score") -> str:
    """The mean test score of the weights every learner holds after the last round (its own, when alone)."""
    alone = len(results.data) > 1 and results.data[-1].block_proposer is None and not results.data[-1].vote
    held = "each learner's own model" if alone else "shared model"
    return f"{held}: mean test {score_name} {format_score(results.shared_model_scores[-1])}"


def shown_vote(result: Result, learner: int) -> bool | None:
    """A learner's vote as shown: ``None`` (no vote) where nobody voted, the start included."""
    return None if result.block_proposer is None else result.votes[learner]


def format_results(results: Results) -> str:
    """The latest round as text: what happened, the shared model's score, then the table of the vote."""
    if not results.data:
        return "no rounds yet"
    last = results.data[-1]
    lines = [round_headline(results), shared_model_line(results)]
    if last.block_proposer is not None:
        lines.append(f"learner {last.block_proposer}'s proposal, as each learner scored it:")
    vote_word = {True: "yes", False: "no", None: "-"}
    lines.append(f"{'learner':>7}  {'vote':>4}  {'vote score':>10}  {'test score':>10}")
    for i, (vs, ts) in enumerate(zip(last.vote_scores, last.test_scores, strict=False)):
        v = shown_vote(last, i)
        lines.append(f"{i:>7}  {vote_word.get(v, str(v)):>4}  {format_score(vs):>10}  {format_score(ts):>10}")
    lines.append(f"{'mean':>7}  {'':>4}  "
                 f"{format_score(mean(last.vote_scores)):>10}  {format_score(mean(last.test_scores)):>10}")
    lines += [line for line in map(format_budget, last.training_summaries) if line]
    return "\n".join(lines + last.errors)


def format_budget(training_summary: Any) -> str | None:
    """One line on the privacy budget in a training summary, or ``None`` when it has none.

    >>> format_budget({"dp_budget": {"target_epsilon": 5.0, "consumed_epsilon": 1.25, "target_delta": 1e-5,
    ...                              "consumed_delta": 1e-5}})
    'privacy: epsilon 1.25 of 5 spent (delta 1e-05)'
    """
    if not isinstance(training_summary, dict) or "dp_budget" not in training_summary:
        return None
    budget = training_summary["dp_budget"]
    line = (f"privacy: epsilon {budget['consumed_epsilon']:.3g} of {budget['target_epsilon']:.3g} spent "
            f"(delta {budget['target_delta']:.3g})")
    if training_summary.get("error_code") == DP_BUDGET_EXCEEDED:
        line += f"; {DP_BUDGET_EXCEEDED}: did not train"
    return line


def print_results(results: Results) -> None:
    """Print the latest round: what happened, the shared model's mean test score, and the vote as a table.

    Rounds are numbered by ``round_index`` (as ``collective_learning_round`` takes it); the initial
    scores are the "start", where nobody votes.

    >>> r = Results([Result(vote=False, votes=[True, True], vote_scores=[0.5, 0.7], test_scores=[0.4, 0.6])])
    >>> r.append(Result(vote=False, votes=[None, False], vote_scores=[0.4, 0.6], test_scores=[0.3, 0.5],
    ...                 block_proposer=0))
    >>> print_results(r)  # doctest: +NORMALIZE_WHITESPACE
    Round 0: learner 0 proposed, rejected (0 of 1 voted yes)
    shared model: mean test score 0.5000
    learner 0's proposal, as each learner scored it:
    learner  vote  vote score  test score
          0     -      0.4000      0.3000
          1    no      0.6000      0.5000
       mean            0.5000      0.4000
    """
    print(format_results(results))
