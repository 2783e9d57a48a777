"""LivePlot, run_rounds and the Dashboard, on small synthetic learners;
one small notebook run in a real kernel."""
import base64
import hashlib
import io
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import make_learner

from colearn_nb import (
    Dashboard,
    LivePlot,
    ProgressBar,
    Result,
    Results,
    collective_learning_round,
    individual_training_round,
    initial_result,
    print_results,
    run_rounds,
    set_equal_weights,
)
from colearn_nb.viz.dashboard import status_line, votes_table
from colearn_nb.viz.plots import VOTE_COLOURS, plot_results, plot_votes, vote_image

TESTS_DIR = str(Path(__file__).parent)

def make_learners(n=3):
    torch.manual_seed(0)
    return [make_learner(seed=i, maximise=True, shuffle=True) for i in range(n)]


def fresh_results(n_rounds=3):
    learners = make_learners()
    return run_rounds(learners, n_rounds)


def test_live_plot_throttles_and_always_draws_the_last_results():
    frames, results = [], fresh_results(3)
    live = LivePlot(score_name="accuracy", min_interval=60, on_frame=frames.append)
    assert live.update(Results(results.data[:2])) is True
    assert live.update(Results(results.data[:3])) is False  # within min_interval: skipped
    assert live.update(results) is False
    assert len(frames) == 1
    live.finish()
    assert len(frames) == 2 and frames[-1] != frames[0] and frames[-1].startswith(b"\x89PNG")
    live.finish()
    assert len(frames) == 2, "nothing new to draw"
    assert live.votes_axes.images[0].get_array().shape[1] == len(results.data)


def test_live_plot_keeps_drawing_within_its_share_of_the_time():
    results = fresh_results(2)
    eager = LivePlot(min_interval=0, max_share=1.0, on_frame=lambda frame: None)
    assert all(eager.update(results) for _ in range(3))
    thrifty = LivePlot(min_interval=0, max_share=0.05, on_frame=lambda frame: None)
    assert thrifty.update(results) is True
    # drawing again now would exceed 5% of the time since the first update
    assert thrifty.update(results) is False
    # as if rounds 100 times longer than a frame had passed
    thrifty._started_at -= 100 * thrifty.seconds_drawing
    assert thrifty.update(results) is True
    assert thrifty.n_frames == 2 and thrifty.seconds_drawing > 0


def test_live_plot_outside_a_notebook_draws_only_when_finished_and_never_uses_pyplot():
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    results = fresh_results(2)
    live = LivePlot()
    assert live.update(results) is False and live.n_frames == 0
    figure = live.finish()
    assert live.n_frames == 1 and figure is live.figure
    assert len(live.scores_axes.lines) == 2 * 3 + 2  # per-learner test and vote lines, and the two means
    assert plt.get_fignums() == open_before
    assert "1 frames" in repr(live) and live._repr_png_() == live.last_frame


@pytest.mark.parametrize("kwargs, named", [({"min_interval": -1}, "min_interval"),
                                           ({"max_share": 0}, "max_share"), ({"max_share": 2}, "max_share")])
def test_live_plot_rejects_bad_settings(kwargs, named):
    with pytest.raises(ValueError, match=named):
        LivePlot(**kwargs)


def test_run_rounds_matches_the_manual_loop_and_draws_the_last_round():
    learners = make_learners()
    set_equal_weights(learners)
    expected = Results([initial_result(learners)])
    for round_index in range(4):
        expected.data.append(collective_learning_round(learners, 0.5, round_index))
    frames = []
    live = LivePlot(min_interval=60, on_frame=frames.append)
    results = run_rounds(make_learners(), 2, on_round=live)
    assert len(frames) == 2, "round 1 drawn, round 2 throttled and then drawn at the end"
    assert frames[-1] == live.last_frame
    assert live.votes_axes.images[0].get_array().shape[1] == len(results.data)
    assert [r.block_proposer for r in results.data] == [None, 0, 1]
    assert results.data == expected.data[:3]


def test_run_rounds_continues_given_results():
    learners = make_learners()
    set_equal_weights(learners)
    expected = Results([initial_result(learners)])
    for round_index in range(4):
        expected.data.append(collective_learning_round(learners, 0.5, round_index))
    learners = make_learners()
    results = run_rounds(learners, 2)
    results = run_rounds(learners, 2, results=results)
    assert [r.block_proposer for r in results.data] == [None, 0, 1, 2, 0]
    assert results.data == expected.data


@pytest.mark.parametrize("kwargs, named", [
    ({"n_rounds": -1}, "n_rounds"), ({"n_rounds": 1.5}, "n_rounds"),
    ({"vote_threshold": 2}, "vote_threshold"), ({"on_round": "yes"}, "on_round"),
    ({"results": Results()}, "results"), ({"n_rounds": True}, "n_rounds"),
    ({"vote_threshold": float("nan")}, "vote_threshold")])
def test_run_rounds_rejects_bad_input_naming_the_parameter(kwargs, named):
    options = dict(n_rounds=1)
    options.update(kwargs)
    with pytest.raises(ValueError, match=named):
        run_rounds(make_learners(), **options)


def test_run_rounds_calls_every_callback_each_round_and_finishes_them_even_on_error():
    calls = []

    class Recorder:
        def __call__(self, results):
            calls.append(("round", len(results)))

        def finish(self, results):
            calls.append(("finish", len(results)))

    results = run_rounds(make_learners(), 3, on_round=[Recorder(), lambda r: calls.append(("fn", len(r)))])
    assert calls == [("round", 2), ("fn", 2), ("round", 3), ("fn", 3), ("round", 4), ("fn", 4), ("finish", 4)]
    assert len(results) == 4
    calls.clear()
    stopped = run_rounds(make_learners(), 5, on_round=[Recorder(), lambda r: len(r) < 3])
    assert len(stopped) == 3, "a callback returning False stops after that round"
    assert calls[-1] == ("finish", 3)
    calls.clear()

    def fail(results):
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        run_rounds(make_learners(), 3, on_round=[Recorder(), fail])
    assert calls == [("round", 2), ("finish", 2)]


def test_progress_bar_counts_rounds_and_closes():
    text = io.StringIO()
    bar = ProgressBar(n_rounds=3, file=text)
    results = run_rounds(make_learners(), 3, on_round=bar)
    assert repr(bar) == "ProgressBar(3 of 3 rounds)" and len(results) == 4
    assert "3/3" in text.getvalue() and "shared_model_score=" in text.getvalue()


def test_dashboard_steps_runs_and_shows_the_last_round():
    board = Dashboard(make_learners(), score_name="accuracy")
    assert board.status.value.startswith("Start: equal starting weights")
    first_picture = bytes(board.plot.value)
    assert first_picture.startswith(b"\x89PNG")
    for expected_round in (1, 2):
        assert board.step() is True
        assert board.wait(timeout=30)
        round_index = expected_round - 1  # rounds are numbered by round_index, from 0
        assert board.status.value.startswith(f"Round {round_index}: learner {round_index} proposed")
    assert board.run(3) is True and board.wait(timeout=30)
    assert len(board.results.data) == 6
    assert board.status.value == status_line(board.results, "accuracy")
    assert "(proposer)" in board.table.value and bytes(board.plot.value) != first_picture
    assert board.pause_button.disabled and not board.run_button.disabled


def test_dashboard_pause_stops_after_the_current_round_and_buttons_follow():
    board = Dashboard(make_learners(), n_rounds=200)
    board.run_button.click()
    assert board.running and board.run_button.disabled and not board.pause_button.disabled
    assert board.run() is False and board.step() is False, "one run at a time"
    time.sleep(0.2)
    board.pause_button.click()
    assert board.wait(timeout=30)
    n_rounds = len(board.results.data) - 1
    assert 0 < n_rounds < 200
    assert board.status.value.startswith(f"Round {n_rounds - 1}:")
    assert not board.run_button.disabled and board.pause_button.disabled


def test_dashboard_threshold_applies_from_the_next_round():
    board = Dashboard(make_learners(), vote_threshold=0.0)
    board.step()
    board.wait(timeout=30)
    assert board.results.data[-1].vote is True, "threshold 0 accepts every proposal"
    board.threshold_slider.value = 1.0
    for _ in range(4):
        board.step()
        board.wait(timeout=30)
    for result in board.results.data[2:]:
        assert result.vote == all(v for v in result.votes if v is not None)


def test_dashboard_reset_restores_the_equal_starting_weights_and_clears_results():
    learners = make_learners()
    board = Dashboard(learners, vote_threshold=0.0)
    start = [w.clone() for w in learners[0].mli_get_current_weights().weights.values()]
    board.run(3)
    board.wait(timeout=30)
    assert board.results.n_accepted == 3
    board.reset_button.click()
    assert len(board.results.data) == 1 and board.status.value.startswith("Start:")
    for learner in learners:
        for got, want in zip(learner.mli_get_current_weights().weights.values(), start, strict=True):
            assert torch.equal(got, want)
    assert board.results.data[0] == Dashboard(make_learners()).results.data[0]


def test_dashboard_shows_a_failing_learner_in_the_status_line():
    learners = make_learners()
    board = Dashboard(learners)
    learners[0].train_loader = []
    board.step()
    board.wait(timeout=30)
    assert "learner 0 failed in round 0" in board.status.value and board.error is not None
    assert not board.running and not board.step_button.disabled


def accepted_then_rejected():
    """The start (mean test 0.5), round 0 accepted (0.7), round 1 rejected (its proposal: 0.3)."""
    return Results([Result(False, [True, True, True], [0.5] * 3, [0.4, 0.5, 0.6]),
                    Result(True, [None, True, True], [0.7] * 3, [0.6, 0.7, 0.8], block_proposer=0),
                    Result(False, [False, None, False], [0.2] * 3, [0.2, 0.3, 0.4], block_proposer=1)])


def test_progress_shows_the_shared_model_and_the_proposal_only_in_the_vote_table(capsys):
    results = accepted_then_rejected()
    print_results(results)
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["Round 1: learner 1 proposed, rejected (0 of 2 voted yes)",
                       "shared model: mean test score 0.7000",
                       "learner 1's proposal, as each learner scored it:"]
    assert out[-1].split()[-2:] == ["0.2000", "0.3000"], "the table is the rejected proposal's"
    assert status_line(results, "accuracy").endswith("shared model: mean test accuracy 0.7000")
    bold = [line for line in plot_results(results).axes[0].lines if line.get_linewidth() == 3]
    assert [list(line.get_ydata()) for line in bold] == [pytest.approx([0.5, 0.7, 0.7])] * 2
    thin = plot_results(results).axes[0].lines[0]  # learner 0's test score of the weights it holds
    assert list(thin.get_ydata()) == pytest.approx([0.4, 0.6, 0.6])
    live = LivePlot(on_frame=lambda frame: None)
    live.update(results)
    assert list(live.scores_axes.lines[-2].get_ydata()) == results.shared_model_scores
    assert "shared model's mean test score 0.7" in repr(results)


def test_the_start_is_shown_as_no_vote(capsys):
    learners = make_learners()
    results = run_rounds(learners, 1, vote_threshold=0.0)
    start = results.data[0]
    assert start.votes == [True] * 3 and start.vote is False, "colearn's fields are kept"
    assert (vote_image(results)[:, 0] == VOTE_COLOURS[None]).all(), "column 'start' is grey: no vote"
    assert (vote_image(results)[:, 1] != VOTE_COLOURS[None]).any(), "round 0's voters are coloured"
    assert "&#10004;" not in votes_table(start) and "no vote" in votes_table(start)
    assert "&#10004;" in votes_table(results.data[1]) or "&#10008;" in votes_table(results.data[1])
    print_results(Results(results.data[:1]))
    rows = capsys.readouterr().out.splitlines()[3:6]
    assert [row.split()[1] for row in rows] == ["-", "-", "-"]
    board = Dashboard(learners)
    assert "&#10004;" not in board.table.value and board.status.value.startswith("Start:")
    alone = Results([initial_result(learners), individual_training_round(learners, 0)])
    print_results(alone)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["Round 0: every learner trained alone (no vote)",
                       f"each learner's own model: mean test score {alone.mean_test_scores[-1]:.4f}"]
    assert [row.split()[1] for row in out[3:6]] == ["-", "-", "-"]
    assert alone.shared_model_scores == alone.mean_test_scores, "alone, each learner keeps what it scored"


def test_rounds_are_numbered_by_round_index_everywhere(capsys):
    results = run_rounds(make_learners(), 4)  # round_index 0, 1, 2, 3
    print_results(results)
    assert capsys.readouterr().out.startswith("Round 3: learner 0 proposed")
    assert status_line(results).startswith("Round 3: learner 0 proposed")
    for figure in (plot_results(results), plot_votes(results)):
        labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
        assert labels == ["start", "0", "1", "2", "3"]
        assert list(figure.axes[0].get_xticks()) == [0, 1, 2, 3, 4]
    assert plot_votes(results).axes[0].collections[0].get_offsets()[0].tolist() == [1, 0], \
        "round 0's proposer, learner 0, in the column labelled 0"
    first = plot_results(Results(results.data[:1])).axes[0]
    assert first.get_xlim()[1] > 1 and list(first.lines[-2].get_ydata()) == results.shared_model_scores[:1], \
        "the first plot shows the start's point, not empty axes"


def test_dashboard_text_never_shows_a_round_the_plot_does_not():
    board = Dashboard(make_learners(), score_name="accuracy")
    drawn, shown = [], []
    show_frame = board.live.on_frame
    board.live.on_frame = lambda frame: (drawn.append(len(board.results.data)), show_frame(frame))
    board.status.observe(lambda change: shown.append((change["new"], drawn[-1] if drawn else None)), "value")
    board.live.min_interval = 60  # throttled: only the last round of each run is drawn
    assert board.run(4) and board.wait(timeout=30)
    assert len(drawn) < 4 and drawn[-1] == 5, "throttled, and the last round drawn at the end"
    assert len(shown) == len(drawn), "the status changes with each frame and only then"
    for status, drawn_length in shown:  # "Round k" is Results.data[k + 1]: k + 2 entries
        assert status.startswith(f"Round {drawn_length - 2}:"), (status, drawn_length)


def test_dashboard_reset_says_so_at_once_and_never_shows_the_old_round_again():
    board = Dashboard(make_learners(), n_rounds=200)
    shown = []
    board.status.observe(lambda change: shown.append(change["new"]), "value")
    board.run()
    deadline = time.monotonic() + 30
    while len(board.results.data) < 3 and time.monotonic() < deadline:  # some rounds done
        time.sleep(0.01)
    shown.clear()
    events = []  # the plot hidden or shown, a picture of so many results, the status line: in order
    board.plot.layout.observe(lambda change: events.append(change["new"]), "visibility")
    board.plot.observe(lambda change: events.append(f"picture of {len(board.results.data)}"), "value")
    board.reset()
    assert shown[0].startswith("Resetting"), shown
    assert shown[-1].startswith("Start:") and not any(s.startswith("Round") for s in shown), shown
    assert len(board.results.data) == 1 and not board.running
    assert events == ["hidden", "picture of 1", "visible"], "the old plot goes at once; the start's comes"


def test_dashboard_draws_its_plot_at_the_size_shown_with_the_legends_inside():
    board = Dashboard(make_learners(), score_name="accuracy")
    assert board.step() and board.wait(timeout=30)
    png = bytes(board.plot.value)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the PNG header
    assert (width, height) == (612, 432) and board.plot.layout.max_width == "612px", "never scaled up"
    for axes in board.live.figure.axes:
        box = axes.get_legend().get_window_extent()  # in the pixels of the last frame drawn
        assert 0 <= box.x0 and box.x1 <= width and 0 <= box.y0 and box.y1 <= height, (axes, box)
    with pytest.raises(ValueError, match="too small for the labels"):
        LivePlot(figsize=(4, 3))


def test_dashboard_rejects_bad_input():
    with pytest.raises(ValueError, match="vote_threshold"):
        Dashboard(make_learners(), vote_threshold=-0.1)
    with pytest.raises(ValueError, match="n_rounds"):
        Dashboard(make_learners(), n_rounds=0)


SMALL_NOTEBOOK = textwrap.dedent("""
    import hashlib, sys, torch
    sys.path.insert(0, {tests!r})
    from conftest import make_learner
    from colearn_nb import LivePlot, ProgressBar, run_rounds
    torch.manual_seed(0)
    learners = [make_learner(seed=i, maximise=True) for i in range(3)]
    live = LivePlot(score_name="accuracy", min_interval=0, max_share=1.0)
    results = run_rounds(learners, 6, on_round=live)
""")


def test_saved_notebook_keeps_the_last_frame_as_one_picture(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(SMALL_NOTEBOOK.format(tests=TESTS_DIR)),
                      nbformat.v4.new_code_cell(
                          "print(live.n_frames, hashlib.sha256(live.last_frame).hexdigest())")]
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(notebook, path)
    saved = nbformat.read(path, as_version=4)
    pictures = [out for out in saved.cells[0].outputs if "image/png" in out.get("data", {})]
    assert len(pictures) == 1, "one display, updated in place"
    n_frames, digest = saved.cells[1].outputs[0]["text"].split()
    assert int(n_frames) == 6, "one frame a round, unthrottled"
    assert hashlib.sha256(base64.b64decode(pictures[0]["data"]["image/png"])).hexdigest() == digest

