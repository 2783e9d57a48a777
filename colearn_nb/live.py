"""Live plots that redraw in place while rounds run in a notebook, and ``run_rounds`` built on them.

Frames are PNG pictures of one ``matplotlib.figure.Figure`` (never a pyplot figure), shown through
an IPython display handle that is updated in place, so the last frame stays in the saved notebook.
"""
from __future__ import annotations

import io
import logging
import time
from typing import Callable, Optional, Sequence, Union

from matplotlib.figure import Figure

from .checks import check_n_learners, check_n_rounds, check_vote_threshold
from .ml_interface import MachineLearningInterface
from .plot import _in_notebook, draw_scores, draw_votes
from .results import Results
from .training import collective_learning_round, initial_result, set_equal_weights

log = logging.getLogger(__name__)
FrameSink = Callable[[bytes], None]


def _check_fraction(name: str, value: float, low_open: bool = True) -> None:
    if not isinstance(value, (int, float)) or not (0 < value <= 1 if low_open else 0 <= value <= 1):
        raise ValueError(f"{name}: got {value!r}; expected a number in (0, 1], e.g. 0.05")


class LivePlot:
    """Scores above, the vote matrix below, redrawn as PNG frames into one display updated in place.

    Redraws are throttled: at most one per ``min_interval`` seconds, and all drawing since the first
    update, the final frame included, may take at most ``max_share`` of the time (1.0: no such limit).
    The first update is always drawn, and ``finish`` always draws the last results.
    Frames go to ``on_frame`` when given, else to a notebook display; outside a notebook and
    without ``on_frame`` nothing is drawn until ``finish``.

    >>> from colearn_nb.results import Result
    >>> frames = []
    >>> live = LivePlot(score_name="accuracy", on_frame=frames.append)
    >>> live.update(Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5])]))
    True
    >>> len(frames), frames[0][:4]
    (1, b'\\x89PNG')
    """

    def __init__(self, score_name: str = "score", min_interval: float = 0.2, max_share: float = 0.05,
                 figsize: tuple = (10, 7), dpi: int = 72, on_frame: Optional[FrameSink] = None):
        if not isinstance(min_interval, (int, float)) or min_interval < 0:
            raise ValueError(f"min_interval: got {min_interval!r}; expected seconds >= 0, e.g. 0.2")
        _check_fraction("max_share", max_share)
        self.score_name, self.min_interval, self.max_share = score_name, float(min_interval), float(max_share)
        self.figure = Figure(figsize=figsize, dpi=dpi)  # fixed margins: a layout engine costs a third of a frame
        self.figure.subplots_adjust(left=0.09, right=0.78, bottom=0.07, top=0.98, hspace=0.25)
        self.scores_axes, self.votes_axes = self.figure.subplots(2, 1)
        self.on_frame = on_frame
        self.in_notebook = _in_notebook()
        self.last_frame: Optional[bytes] = None
        self.n_frames, self.seconds_drawing = 0, 0.0
        self._handle = None
        self._started_at: Optional[float] = None
        self._last_frame_at, self._last_cost = -float("inf"), 0.0
        self._pending: Optional[Results] = None

    def __repr__(self) -> str:
        return (f"LivePlot(score_name={self.score_name!r}, {self.n_frames} frames, "
                f"{self.seconds_drawing:.2f} s drawing, min_interval={self.min_interval}, max_share={self.max_share})")

    @property
    def shows_frames(self) -> bool:
        """True when frames have somewhere to go: ``on_frame`` or a notebook."""
        return self.on_frame is not None or self.in_notebook

    def update(self, results: Results, force: bool = False) -> bool:
        """Draw ``results`` now unless throttled (``force`` skips the throttle); True when a frame was drawn."""
        self._pending = results
        if not self.shows_frames or not (force or self._due(time.monotonic())):
            return False
        self.draw(results)
        return True

    def _due(self, now: float) -> bool:
        """Whether a frame now keeps within ``min_interval`` and, leaving room for the final frame, ``max_share``."""
        if self._started_at is None:
            self._started_at = now
            return True
        if now - self._last_frame_at < self.min_interval:
            return False
        drawing_with_this_and_final_frame = self.seconds_drawing + 2 * self._last_cost
        return self.max_share >= 1 or drawing_with_this_and_final_frame <= self.max_share * (now - self._started_at)

    def finish(self, results: Optional[Results] = None) -> Figure:
        """Draw the last results if a throttled update left them undrawn; returns the figure."""
        results = results if results is not None else self._pending
        if results is not None and (self._pending is not None or self.last_frame is None):
            self.draw(results)
        return self.figure

    def draw(self, results: Results) -> bytes:
        """Redraw both panels, render a PNG frame, show it; returns the frame."""
        start = time.monotonic()
        draw_scores(self.scores_axes, results, self.score_name)
        draw_votes(self.votes_axes, results)
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        self.last_frame, self._pending = buffer.getvalue(), None
        self._show(self.last_frame)
        self._last_frame_at, self._last_cost = start, time.monotonic() - start
        self.n_frames, self.seconds_drawing = self.n_frames + 1, self.seconds_drawing + self._last_cost
        return self.last_frame

    def _show(self, frame: bytes) -> None:
        if self.on_frame is not None:
            self.on_frame(frame)
        elif self.in_notebook:
            from IPython.display import Image, display

            if self._handle is None:
                self._handle = display(Image(data=frame, format="png"), display_id=True)
            else:
                self._handle.update(Image(data=frame, format="png"))

    def _repr_png_(self) -> Optional[bytes]:
        return self.last_frame


def _start_results(learners: Sequence[MachineLearningInterface], results: Optional[Results]) -> Results:
    """Fresh results from equal weights, or the given ones to continue."""
    if results is None:
        set_equal_weights(learners)
        return Results([initial_result(learners)])
    if not results.data:
        raise ValueError("results: got empty Results; pass results=None to start from equal weights, "
                         "or Results returned by an earlier run to continue it")
    return results


def _live_plot(plot: Union[bool, LivePlot], score_name: str) -> Optional[LivePlot]:
    if isinstance(plot, LivePlot):
        return plot
    if not isinstance(plot, bool):
        raise ValueError(f"plot: got {plot!r}; expected True, False or a LivePlot")
    return LivePlot(score_name=score_name) if plot and _in_notebook() else None


def run_rounds(learners: Sequence[MachineLearningInterface], n_rounds: int, vote_threshold: float = 0.5,
               plot: Union[bool, LivePlot] = True, score_name: str = "score", results: Optional[Results] = None,
               progress: bool = True) -> Results:
    """Run ``n_rounds`` rounds with a progress bar and, in a notebook, a live plot; returns ``Results``.

    Without ``results`` the learners first get equal weights and round 0 scores them;
    with ``results`` from an earlier call the rounds continue where it stopped.

    >>> from colearn_nb.mnist_learners import make_mnist_learners
    >>> results = run_rounds(make_mnist_learners(n_learners=2), n_rounds=2, progress=False)
    >>> len(results.data), results.data[-1].block_proposer
    (3, 1)
    """
    check_n_learners(learners)
    check_n_rounds(n_rounds)
    check_vote_threshold(vote_threshold)
    live = _live_plot(plot, score_name)
    results = _start_results(learners, results)
    first_round = len(results.data) - 1
    from tqdm.auto import tqdm

    with tqdm(total=n_rounds, desc="collective learning", unit="round", disable=not progress) as bar:
        try:
            for round_index in range(first_round, first_round + n_rounds):
                results.data.append(collective_learning_round(learners, vote_threshold, round_index))
                bar.set_postfix(mean_test_score=f"{results.mean_test_scores[-1]:.4f}", refresh=False)
                bar.update()
                if live is not None:
                    live.update(results)
        finally:
            if live is not None:
                live.finish(results)
    log.info("%d rounds run; %d accepted, %d rejected so far", n_rounds, results.n_accepted, results.n_rejected)
    return results
