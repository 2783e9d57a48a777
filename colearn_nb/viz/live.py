"""Callbacks for ``run_rounds`` that show a run as it goes: a live plot and a progress bar (notebook 07).

Frames are PNG pictures of one ``matplotlib.figure.Figure`` (never a pyplot figure), shown through
an IPython display handle that is updated in place, so the last frame stays in the saved notebook.
"""
from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import Any

from matplotlib.figure import Figure

from ..protocol.checks import check_int, check_number
from ..protocol.results import Results
from .display import _in_notebook
from .plots import draw_scores, draw_votes

log = logging.getLogger(__name__)
FrameSink = Callable[[bytes], None]
MARGINS_PX = {"left": 65, "right": 158, "bottom": 36, "top": 10}  # the axes labels; the legends at the right


def _figure_with_fixed_margins(figsize: tuple, dpi: int) -> Figure:
    """A figure whose margins are ``MARGINS_PX`` whatever its size (a layout engine costs a third of a frame).

    >>> _figure_with_fixed_margins((8.5, 6), 72).subplotpars.right  # 158 px of 612 for the legends
    0.7418300653594772
    """
    width, height = figsize[0] * dpi, figsize[1] * dpi
    if width < 360 or height < 240:
        raise ValueError(f"figsize={figsize} at dpi={dpi} is {width:.0f} x {height:.0f} px, too small for "
                         "the labels and the legends: give at least 360 x 240 px, e.g. figsize=(10, 7)")
    figure, margin = Figure(figsize=figsize, dpi=dpi), MARGINS_PX
    figure.subplots_adjust(left=margin["left"] / width, right=1 - margin["right"] / width,
                           bottom=margin["bottom"] / height, top=1 - margin["top"] / height, hspace=0.25)
    return figure


class LivePlot:
    """The shared model's scores above, the vote matrix below, redrawn as PNG frames into one display.

    The scores are those of the weights the learners hold after each round (a rejected proposal
    leaves them flat); columns are labelled "start", then each round's ``round_index``.

    Redraws are throttled: at most one per ``min_interval`` seconds, and all drawing since the first
    update, the final frame included, may take at most ``max_share`` of the time (1.0: no such limit).
    The first update is always drawn, and ``finish`` always draws the last results.
    Frames go to ``on_frame`` when given, else to a notebook display; outside a notebook and
    without ``on_frame`` nothing is drawn until ``finish``. As ``run_rounds(..., on_round=LivePlot())``
    it is called after every round and finished when the loop ends.

    >>> from colearn_nb.protocol.results import Result
    >>> frames = []
    >>> live = LivePlot(score_name="accuracy", on_frame=frames.append)
    >>> live.update(Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5])]))
    True
    >>> len(frames), frames[0][:4]
    (1, b'\\x89PNG')
    """

    def __init__(self, score_name: str = "score", min_interval: float = 0.2, max_share: float = 0.05,
                 figsize: tuple = (10, 7), dpi: int = 72, on_frame: FrameSink | None = None):
        self.min_interval = check_number("min_interval", min_interval, 0, hint=" seconds, e.g. 0.2")
        self.max_share = check_number("max_share", max_share, 0, 1, low_open=True, hint=", e.g. 0.05")
        self.score_name = score_name
        self.figure = _figure_with_fixed_margins(figsize, dpi)
        self.scores_axes, self.votes_axes = self.figure.subplots(2, 1)
        self.on_frame = on_frame
        self.in_notebook = _in_notebook()
        self.last_frame: bytes | None = None
        self.n_frames, self.seconds_drawing = 0, 0.0
        self._handle = None
        self._started_at: float | None = None
        self._last_frame_at, self._last_cost = -float("inf"), 0.0
        self._pending: Results | None = None

    def __repr__(self) -> str:
        return (f"LivePlot(score_name={self.score_name!r}, {self.n_frames} frames, "
                f"{self.seconds_drawing:.2f} s drawing, min_interval={self.min_interval}, "
                f"max_share={self.max_share})")

    def __call__(self, results: Results) -> None:
        """``run_rounds``'s callback: ``update``."""
        self.update(results)

    @property
    def shows_frames(self) -> bool:
        """True when frames have somewhere to go: ``on_frame`` or a notebook."""
        return self.on_frame is not None or self.in_notebook

    def update(self, results: Results, force: bool = False) -> bool:
        """Draw ``results`` now unless throttled (``force``: no throttle); True when a frame was drawn."""
        self._pending = results
        if not self.shows_frames or not (force or self._due(time.monotonic())):
            return False
        self.draw(results)
        return True

    def _due(self, now: float) -> bool:
        """Whether a frame now keeps within ``min_interval`` and ``max_share`` (room left for the last)."""
        if self._started_at is None:
            self._started_at = now
            return True
        if now - self._last_frame_at < self.min_interval:
            return False
        drawing_with_this_and_final_frame = self.seconds_drawing + 2 * self._last_cost
        return (self.max_share >= 1
                or drawing_with_this_and_final_frame <= self.max_share * (now - self._started_at))

    def finish(self, results: Results | None = None) -> Figure:
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

    def _repr_png_(self) -> bytes | None:
        return self.last_frame


class ProgressBar:
    """A progress bar for ``run_rounds`` (tqdm: a widget in a notebook, text elsewhere) with the latest score.

    >>> import io
    >>> ProgressBar(n_rounds=2, file=io.StringIO())
    ProgressBar(0 of 2 rounds)
    """

    def __init__(self, n_rounds: int, desc: str = "collective learning", **tqdm_options: Any):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=check_int("n_rounds", n_rounds, minimum=0), desc=desc, unit="round",
                        **tqdm_options)

    def __repr__(self) -> str:
        return f"ProgressBar({self.bar.n} of {self.bar.total} rounds)"

    def __call__(self, results: Results) -> None:
        """One more round done."""
        self.bar.set_postfix(shared_model_score=f"{results.shared_model_scores[-1]:.4f}", refresh=False)
        self.bar.update()

    def finish(self, results: Results) -> None:
        """Close the bar."""
        self.bar.close()
