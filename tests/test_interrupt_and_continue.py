"""Ctrl-C keeps the run, an interrupted round leaves no trace, and continuing checks what it continues.

Learners as users build them (tests/user_learners.py): plain shuffled DataLoaders, Dropout, Adam or
AdamW, DP-SGD, a scheduler, an optimizer that keeps its state between proposals.
"""
from __future__ import annotations

import pytest
import torch
from user_learners import Dropout, torch_learners

import colearn_nb
from colearn_nb import Results, RunInterrupted, run_rounds

N_ROUNDS = 8
CONFIGS = {
    "dropout_adam": {"make_model": Dropout},
    "dropout_adam_optimizer_kept": {"make_model": Dropout, "need_reset_optimizer": False},
    "dropout_adamw_dp": {"make_model": Dropout, "optimizer": "adamw", "diff_priv": True},
    "scheduler_param_groups": {"optimizer": "sgd", "scheduler": True, "groups": True},
}


def build(config: str) -> list:
    torch.manual_seed(0)
    return torch_learners(**CONFIGS[config])


def interrupt_once(learner, method: str, after_the_call: bool = False) -> None:
    """The learner's next call of ``method`` raises KeyboardInterrupt (before it runs, or after)."""
    original = getattr(learner, method)

    def interrupting(*args, **kwargs):
        del learner.__dict__[method]  # once only
        if after_the_call:
            original(*args, **kwargs)
        raise KeyboardInterrupt

    setattr(learner, method, interrupting)


def weights_of(learners) -> list[dict]:
    return [learner.mli_get_current_weights().weights for learner in learners]


def interruptions(whole: Results) -> list[tuple[int, int, str, bool]]:
    """(round, learner, method, after the call): Ctrl-C while training, voting, and accepting a proposal."""
    accepted = next(i for i, result in enumerate(whole.data[2:], start=1) if result.vote)
    return [(3, 0, "train", True), (4, 2, "mli_test_weights", False), (5, 0, "mli_test_weights", True),
            (accepted, (accepted + 1) % 3, "mli_accept_weights", False)]


@pytest.mark.parametrize("config", list(CONFIGS))
def test_an_interrupted_round_leaves_no_trace_and_continuing_gives_the_uninterrupted_run(config):
    whole = run_rounds(build(config), N_ROUNDS, vote_threshold=0.5)
    assert 0 < whole.n_accepted < N_ROUNDS, "the run must accept some proposals and reject some"
    for round_index, learner_index, method, after in interruptions(whole):
        learners = build(config)
        results = run_rounds(learners, round_index, vote_threshold=0.5)
        interrupt_once(learners[learner_index], method, after)
        with pytest.raises(RunInterrupted) as stop:
            run_rounds(learners, N_ROUNDS - round_index, vote_threshold=0.5, results=results)
        assert stop.value.results is results and len(results) == round_index + 1
        assert colearn_nb.interrupted_results() is results
        assert "results = colearn_nb.interrupted_results()" in str(stop.value)
        continued = run_rounds(learners, N_ROUNDS - round_index, vote_threshold=0.5, results=results)
        assert continued == whole, f"interrupted in round {round_index} ({method} of learner {learner_index})"
        assert all(torch.equal(a[k], b[k]) for a in weights_of(learners) for b in weights_of(learners)
                   for k in a)


def test_an_interrupt_is_still_a_keyboard_interrupt_and_callbacks_finish():
    learners, finished = build("dropout_adam"), []

    class Finish:
        def __call__(self, results):
            return None

        def finish(self, results):
            finished.append(len(results))

    results = run_rounds(learners, 1)
    interrupt_once(learners[2], "mli_test_weights")
    with pytest.raises(KeyboardInterrupt):
        run_rounds(learners, 3, results=results, on_round=Finish())
    assert finished == [2], "the callback is told the run ended, with the rounds that completed"


def test_continuing_refuses_results_of_another_number_of_learners():
    three = run_rounds(build("dropout_adam"), 2)
    torch.manual_seed(0)
    four = torch_learners(make_model=Dropout) + torch_learners(make_model=Dropout)[:1]
    with pytest.raises(ValueError, match="results: made by 3 learners, but 4 were given"):
        run_rounds(four, 2, results=three)
    with pytest.raises(ValueError, match="results: made by 3 learners, but 2 were given"):
        run_rounds(four[:2], 2, results=three)
    assert len(three) == 3 and three.n_learners == 3, "the refused results are unchanged"


@pytest.mark.parametrize("text", ['{"data": [{}]}', '{"data": []}',
                                  '{"data": [{"votes": [], "vote_scores": [], "test_scores": []}]}'])
def test_results_files_without_learners_are_refused(tmp_path, text):
    (tmp_path / "r.json").write_text(text)
    with pytest.raises(ValueError, match="is not a results file written by Results.save"):
        Results.load(tmp_path / "r.json")


def test_no_interrupted_run_says_so():
    colearn_nb.protocol.loop._interrupted.clear()
    with pytest.raises(LookupError, match="no run was interrupted in this session"):
        colearn_nb.interrupted_results()
