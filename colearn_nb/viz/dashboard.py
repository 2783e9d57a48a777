"""A control panel for collective learning in a notebook or a Voila page (needs ipywidgets; notebook 07)."""
from __future__ import annotations

import html
import logging
import threading
from collections.abc import Sequence
from typing import Any

from ..protocol.checks import check_int, check_n_learners, check_vote_threshold
from ..protocol.interface import MachineLearningInterface
from ..protocol.loop import run_rounds, start_results
from ..protocol.report import format_score, round_headline, shared_model_line, shown_vote
from ..protocol.results import Result, Results
from .live import LivePlot

log = logging.getLogger(__name__)
VOTE_WORDS = {True: "&#10004; yes", False: "&#10008; no", None: "&ndash;"}
CELL_STYLE = "padding:1px 8px;text-align:right;white-space:nowrap"
PLOT_SIZE = (8.5, 6.0)  # inches at 72 dpi: 612 x 432 px, drawn at the size the panel shows it


def status_line(results: Results, score_name: str = "score") -> str:
    """The last round in one line: its ``round_index``, proposer, decision, and the shared model's score.

    >>> status_line(Results([Result(False, [True, True], [0.5, 0.6], [0.4, 0.5])]), "accuracy")
    'Start: equal starting weights, before round 0 (no vote); shared model: mean test accuracy 0.4500'
    """
    return f"{round_headline(results)}; {shared_model_line(results, score_name)}"


def _cells(tag: str, values: Sequence[object]) -> str:
    return "".join(f"<{tag} style='{CELL_STYLE}'>{value}</{tag}>" for value in values)


def votes_table(result: Result) -> str:
    """One round's votes and the proposal's scores as an HTML table, one row a learner; the start: no vote."""
    caption = (f"learner {result.block_proposer}'s proposal, as each learner scored it"
               if result.block_proposer is not None else "each learner's scores of its weights; no vote")
    rows = "".join(
        "<tr>" + _cells("td", [f"{i}{' (proposer)' if i == result.block_proposer else ''}",
                               VOTE_WORDS.get(shown_vote(result, i), html.escape(str(result.votes[i]))),
                               format_score(vs), format_score(ts)]) + "</tr>"
        for i, (vs, ts) in enumerate(zip(result.vote_scores, result.test_scores, strict=False)))
    head = _cells("th", ["learner", "vote", "vote score", "test score"])
    return (f"<table class='colearn-votes' style='line-height:1.5'>"
            f"<caption style='text-align:left;white-space:normal'>{caption}"
            f"</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


class Dashboard:
    """Run, Step, Pause and Reset buttons, threshold and rounds sliders, a status line, votes and live plots.

    Rounds run in a background thread, so the panel stays responsive: Pause stops after the current
    round, a new threshold applies from the next round, Reset restores the equal starting weights.
    The status line, the vote table and the plot always show the same round (the plot is throttled,
    and the text waits for it). Buttons and sliders in a row, the status line, then the plot with the
    table beside it (under it on a narrow page): on a laptop screen Step and the plot are seen together.

    >>> from colearn_nb.tutorial.factory import make_mnist_learners
    >>> board = Dashboard(make_mnist_learners(n_learners=2), score_name="accuracy")
    >>> _ = board.step(); _ = board.wait(); board.status.value.startswith("Round 0: learner 0 proposed")
    True
    """

    def __init__(self, learners: Sequence[MachineLearningInterface], vote_threshold: float = 0.5,
                 n_rounds: int = 20, score_name: str = "score", max_rounds: int = 200,
                 max_plot_share: float = 0.2):
        check_n_learners(learners)
        check_vote_threshold(vote_threshold)
        check_int("n_rounds", n_rounds, 1, max_rounds, hint=f" (max_rounds={max_rounds})")
        self.learners, self.score_name = list(learners), score_name
        self.results = start_results(self.learners)
        self.start_weights = [learner.mli_get_current_weights() for learner in self.learners]
        self.error: BaseException | None = None
        self._stop, self._resetting = threading.Event(), threading.Event()
        self._showing = threading.Lock()  # a frame with its status and table, or Reset clearing them
        self._worker: threading.Thread | None = None
        self._build_widgets(vote_threshold, n_rounds, max_rounds)
        self.live = LivePlot(score_name, max_share=max_plot_share, figsize=PLOT_SIZE,
                             on_frame=self._show_frame)
        self._refresh(force_plot=True)

    def __repr__(self) -> str:
        return (f"Dashboard({len(self.learners)} learners, {len(self.results.data) - 1} rounds run, "
                f"vote_threshold={self.threshold_slider.value}, running={self.running})")

    def _build_widgets(self, vote_threshold: float, n_rounds: int, max_rounds: int) -> None:
        import ipywidgets as widgets

        self.run_button, self.step_button, self.pause_button, self.reset_button = (
            widgets.Button(description=name, icon=icon, tooltip=tip,
                           layout=widgets.Layout(width="auto", min_width="76px", flex="0 0 auto"))
            for name, icon, tip in (("Run", "play", "run the number of rounds set on the slider"),
                                    ("Step", "step-forward", "run one round"),
                                    ("Pause", "pause", "stop after the current round"),
                                    ("Reset", "undo", "equal starting weights, no results")))
        for button, action in ((self.run_button, self.run), (self.step_button, self.step),
                               (self.pause_button, self.pause), (self.reset_button, self.reset)):
            button.add_class(f"colearn-{button.description.lower()}")
            button.on_click(lambda _button, action=action: action())
        self.threshold_slider, self.rounds_slider = self._sliders(widgets, vote_threshold, n_rounds,
                                                                  max_rounds)
        self.status = widgets.HTML().add_class("colearn-status")
        self.table = widgets.HTML(layout=widgets.Layout(flex="0 0 auto")).add_class("colearn-table")
        self.plot = (widgets.Image(format="png", layout=widgets.Layout(
            flex="1 1 420px", min_width="320px", max_width=f"{72 * PLOT_SIZE[0]:.0f}px", height="auto",
            margin="0 12px 0 0"))
                     .add_class("colearn-plot"))
        self.widget = self._arrange(widgets)
        self._set_running(False)

    def _arrange(self, widgets: Any) -> Any:
        """Buttons and sliders in a row, the status line under them, then the plot with the vote table beside.

        Rows wrap on a narrow page: the table goes under the plot, never the plot under the table.
        """
        row = {"display": "flex", "flex_flow": "row wrap", "width": "100%"}
        controls = widgets.Box([self.run_button, self.step_button, self.pause_button, self.reset_button,
                                self.threshold_slider, self.rounds_slider],
                               layout=widgets.Layout(**row, align_items="center"))
        pictures = widgets.Box([self.plot, self.table],
                               layout=widgets.Layout(**row, align_items="flex-start"))
        return widgets.VBox([controls, self.status, pictures],
                            layout=widgets.Layout(width="100%")).add_class("colearn-dashboard")

    @staticmethod
    def _sliders(widgets: Any, vote_threshold: float, n_rounds: int, max_rounds: int) -> tuple:
        """The threshold and rounds sliders: full labels, values always shown, side by side if room."""
        layout = {"flex": "1 1 300px", "min_width": "300px", "max_width": "360px"}
        style = {"description_width": "initial"}
        threshold = widgets.FloatSlider(value=vote_threshold, min=0, max=1, step=0.05, readout_format=".2f",
                                        description="vote threshold", style=style,
                                        layout=widgets.Layout(**layout))
        rounds = widgets.IntSlider(value=n_rounds, min=1, max=max_rounds, description="rounds per run",
                                   style=style, layout=widgets.Layout(**layout))
        return threshold.add_class("colearn-threshold"), rounds.add_class("colearn-rounds")

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
        """Pause, then give every learner the equal starting weights and start the results again.

        The status says so and the plot is hidden at once; a round under way is finished first, and not
        shown; the plot comes back with the start's picture.
        """
        with self._showing:  # after a frame being shown, so that nothing of the old round comes back
            self._resetting.set()
            self.pause()
            self.plot.layout.visibility = "hidden"
            self.status.value = "Resetting: equal starting weights" + (
                " once the current round ends" if self.running else "")
            self.table.value = ""
        try:
            self.wait()
            for learner, weights in zip(self.learners, self.start_weights, strict=True):
                learner.mli_accept_weights(weights)
            self.results, self.error = start_results(self.learners), None
        finally:
            self._resetting.clear()
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
            if not self._resetting.is_set():
                self._refresh(force_plot=self.live._pending is not None)
            self._set_running(False)
            if self.error is not None:
                self.status.value = html.escape(f"Stopped by an error: {self.error}")

    def _refresh(self, force_plot: bool = False) -> None:
        """Draw the plot unless throttled; the status and the table change with it, so all show one round."""
        with self._showing:
            if self._resetting.is_set():
                return
            if self.live.update(self.results, force=force_plot):
                self.status.value = html.escape(status_line(self.results, self.score_name))
                self.table.value = votes_table(self.results.data[-1])

    def _show_frame(self, frame: bytes) -> None:
        self.plot.value = frame
        self.plot.layout.visibility = "visible"

    def _set_running(self, running: bool) -> None:
        self.run_button.disabled = self.step_button.disabled = running
        self.pause_button.disabled = not running
