"""A control panel for collective learning in a notebook or a Voila page (needs ipywidgets; notebook 07)."""
from __future__ import annotations

import html
import logging
import threading
from collections.abc import Sequence

from ..protocol.checks import check_int, check_n_learners, check_vote_threshold
from ..protocol.interface import MachineLearningInterface
from ..protocol.loop import run_rounds, start_results
from ..protocol.results import Result, Results, _fmt, _mean, round_headline
from .live import LivePlot

log = logging.getLogger(__name__)
VOTE_WORDS = {True: "&#10004; yes", False: "&#10008; no", None: "&ndash;"}


def status_line(results: Results) -> str:
    """The last round in one line: round, proposer, accepted or not, mean test score.

    >>> status_line(Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5])]))
    'Round 0: initial scores, mean test score 0.4500'
    """
    return f"{round_headline(results)}, mean test score {_mean(results.data[-1].test_scores):.4f}"


def votes_table(result: Result) -> str:
    """One round's votes and scores as an HTML table, one row a learner."""
    cells = "padding:2px 10px;text-align:right"
    rows = "".join(
        f"<tr><td style='{cells}'>{i}{' (proposer)' if i == result.block_proposer else ''}</td>"
        f"<td style='{cells}'>{VOTE_WORDS.get(v, html.escape(str(v)))}</td>"
        f"<td style='{cells}'>{_fmt(vs)}</td><td style='{cells}'>{_fmt(ts)}</td></tr>"
        for i, (v, vs, ts) in enumerate(zip(result.votes, result.vote_scores, result.test_scores,
                                            strict=False)))
    head = "".join(f"<th style='{cells}'>{h}</th>" for h in ("learner", "vote", "vote score", "test score"))
    return f"<table class='colearn-votes'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


class Dashboard:
    """Run, Step, Pause and Reset buttons, threshold and rounds sliders, a status line, votes and live plots.

    Rounds run in a background thread, so the panel stays responsive: Pause stops after the current
    round, a new threshold applies from the next round, Reset restores the equal starting weights.

    >>> from colearn_nb.tutorial.factory import make_mnist_learners
    >>> board = Dashboard(make_mnist_learners(n_learners=2), score_name="accuracy")
    >>> _ = board.step(); _ = board.wait(); board.status.value.startswith("Round 1: learner 0 proposed")
    True
    """

    def __init__(self, learners: Sequence[MachineLearningInterface], vote_threshold: float = 0.5,
                 n_rounds: int = 20, score_name: str = "score", max_rounds: int = 200,
                 max_plot_share: float = 0.2):
        check_n_learners(learners)
        check_vote_threshold(vote_threshold)
        check_int("n_rounds", n_rounds, 1, max_rounds, hint=f" (max_rounds={max_rounds})")
        self.learners = list(learners)
        self.results = start_results(self.learners)
        self.start_weights = [learner.mli_get_current_weights() for learner in self.learners]
        self.error: BaseException | None = None
        self._stop, self._worker = threading.Event(), None
        self._build_widgets(vote_threshold, n_rounds, max_rounds)
        self.live = LivePlot(score_name, max_share=max_plot_share, on_frame=self._show_frame)
        self._refresh(force_plot=True)

    def __repr__(self) -> str:
        return (f"Dashboard({len(self.learners)} learners, {len(self.results.data) - 1} rounds run, "
                f"vote_threshold={self.threshold_slider.value}, running={self.running})")

    def _build_widgets(self, vote_threshold: float, n_rounds: int, max_rounds: int) -> None:
        import ipywidgets as widgets

        self.run_button, self.step_button, self.pause_button, self.reset_button = (
            widgets.Button(description=name, icon=icon, tooltip=tip, layout=widgets.Layout(width="90px"))
            for name, icon, tip in (("Run", "play", "run the number of rounds set below"),
                                    ("Step", "step-forward", "run one round"),
                                    ("Pause", "pause", "stop after the current round"),
                                    ("Reset", "undo", "equal starting weights, no results")))
        for button, action in ((self.run_button, self.run), (self.step_button, self.step),
                               (self.pause_button, self.pause), (self.reset_button, self.reset)):
            button.add_class(f"colearn-{button.description.lower()}")
            button.on_click(lambda _button, action=action: action())
        self.threshold_slider = widgets.FloatSlider(value=vote_threshold, min=0, max=1, step=0.05,
                                                    description="vote threshold",
                                                    style={"description_width": "initial"})
        self.rounds_slider = widgets.IntSlider(value=n_rounds, min=1, max=max_rounds,
                                               description="rounds per run",
                                               style={"description_width": "initial"})
        self.status = widgets.HTML().add_class("colearn-status")
        self.table = widgets.HTML()
        self.plot = (widgets.Image(format="png", layout=widgets.Layout(width="720px"))
                     .add_class("colearn-plot"))
        buttons = widgets.HBox([self.run_button, self.step_button, self.pause_button, self.reset_button])
        controls = widgets.VBox(layout=widgets.Layout(width="470px"), children=[
            buttons, self.threshold_slider, self.rounds_slider, self.status, self.table])
        self.widget = widgets.HBox([controls, self.plot])
        self._set_running(False)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def running(self) -> bool:
        """True while rounds run in the background."""
        return self._worker is not None and self._worker.is_alive()

    def run(self, n_rounds: int | None = None) -> bool:
        """Start ``n_rounds`` rounds (default: the slider) in the background; False if already running."""
        return self._start(n_rounds if n_rounds is not None else self.rounds_slider.value)

    def step(self) -> bool:
        """Run one round in the background; False if already running."""
        return self._start(1)

    def pause(self) -> None:
        """Stop after the current round."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running rounds to end; True when none is running any more."""
        if self._worker is not None:
            self._worker.join(timeout)
        return not self.running

    def reset(self) -> None:
        """Pause, then give every learner the equal starting weights and start the results again."""
        self.pause()
        self.wait()
        for learner, weights in zip(self.learners, self.start_weights, strict=True):
            learner.mli_accept_weights(weights)
        self.results, self.error = start_results(self.learners), None
        self._refresh(force_plot=True)

    def _start(self, n_rounds: int) -> bool:
        if self.running:
            return False
        self._stop.clear()
        self._set_running(True)
        self._worker = threading.Thread(target=self._run_rounds, args=(n_rounds,), name="colearn-dashboard",
                                        daemon=True)
        self._worker.start()
        return True

    def _run_rounds(self, n_rounds: int) -> None:
        try:
            for _ in range(n_rounds):
                if self._stop.is_set():
                    break
                # one round at a time, so a threshold moved on the slider applies from the next round
                run_rounds(self.learners, 1, self.threshold_slider.value, results=self.results,
                           on_round=lambda _results: self._refresh())
        except Exception as exc:  # shown in the panel: a background thread has nobody else to tell
            self.error = exc
            log.exception("round failed")
        finally:
            self.live.finish(self.results)
            self._set_running(False)
            if self.error is not None:
                self.status.value = html.escape(f"Stopped by an error: {self.error}")

    def _refresh(self, force_plot: bool = False) -> None:
        self.status.value = html.escape(status_line(self.results))
        self.table.value = votes_table(self.results.data[-1])
        self.live.update(self.results, force=force_plot)

    def _show_frame(self, frame: bytes) -> None:
        self.plot.value = frame

    def _set_running(self, running: bool) -> None:
        self.run_button.disabled = self.step_button.disabled = running
        self.pause_button.disabled = not running
