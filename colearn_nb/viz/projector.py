"""The teacher's screen for a class of laptops (notebook 13, or a Voila page): join line, roster, live run.

The class itself lives in ``colearn_nb.flower.classroom`` (Flower, beside this layer); the page gets it
through two callables, so this module imports no Flower: ``open_class`` makes the host (``ClassHost``),
``pretend_laptop`` a laptop on this machine for a rehearsal (``PretendRoom()``: its laptops share one worker
process, so a room of 30 fits the teacher's machine; ``Participant`` works too, a whole laptop each). While
the class is open the teacher's controls (a learner told to propose garbage or a sign-flipped update, the
vote threshold) apply from the next round (``Projector.teach``).
"""
from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from textwrap import shorten
from typing import Any

from ..protocol.checks import check_int
from ..protocol.class_controls import ATTACK_WORDS, ATTACKS
from ..protocol.class_settings import CLASS_LIMITS, CLASS_SETTINGS, DEFAULT_DEADLINE_S, check_class_settings
from ..protocol.results import Results
from .dashboard import CELL_STYLE, status_line
from .live import LivePlot

log = logging.getLogger(__name__)
FORM_FIELDS = (*CLASS_SETTINGS, "pretend_laptops")
NOTEBOOK_ONLY = "notebook-only"  # the tag of a notebook's cells left out of the page (Voila)
PAGE_STYLE = f"""<style>
body[data-voila] .celltag_{NOTEBOOK_ONLY},
body[data-voila] .jp-Cell:has(.celltag_{NOTEBOOK_ONLY}) {{display: none}}
.colearn-join-title {{font-size: 18px; margin-top: 0.5em}}
</style>"""
JOIN_LINE_STYLE = ("font: 600 28px/1.3 var(--jp-code-font-family, monospace); margin: 0.2em 0; "
                   "white-space: pre-wrap; word-break: keep-all")  # inline: else the widgets' own font wins
SHOWN = {"online": "&#9679; online", "offline": "&#9675; offline", "registered": "&#9675; not yet connected",
         "answered": "&#10004; answered", "missing": "&#10008; missing", None: "&ndash;"}


GRID_FROM = 9  # laptops from which the roster is a grid of tiles: 30 rows would not fit a projector
GRID_STYLE = "display:grid;grid-template-columns:repeat(4,1fr);gap:2px 6px;font-size:13px"
TILE_STYLE = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis;line-height:18px"
TEACH_CHOICES = [("proposes honestly", "honest"), *((f"proposes {ATTACK_WORDS[a]}", a) for a in ATTACKS)]
MARK = {"online": "&#9679;", "offline": "&#9675;", "registered": "&#9675;", "answered": "&#10004;",
        "missing": "&#10008;", None: ""}


def roster_tile(row: dict[str, Any]) -> str:
    """One laptop as a tile: its connection and last round as marks, learner, name (10 letters).

    >>> roster_tile({"learner": 3, "name": "ada", "connection": "online", "last_round": "missing"})[-28:]
    '>&#9679;&#10008; 3 ada</div>'
    """
    name, last_round = html.escape(str(row["name"]), quote=True), row.get("last_round") or "no round yet"
    about = f"learner {row['learner']}: {name}, {row.get('connection')}, {last_round}"  # on hover
    marks = MARK.get(row.get("connection"), "?") + MARK.get(row.get("last_round"), "?")
    return (f"<div class='colearn-tile' style='{TILE_STYLE}' title='{about}'>"
            f"{marks} {row['learner']} {name[:10]}</div>")  # marks first: a long name is cut, not the state


def roster_grid(roster: list[dict[str, Any]]) -> str:
    """The laptops as tiles (``roster_tile``), four to a row, under a legend of the marks."""
    legend = ("<div style='font-size:12px'>&#9679; online &#9675; not connected &#10004; answered the last "
              "round &#10008; missing</div>")
    tiles = "".join(roster_tile(row) for row in roster)
    return f"{legend}<div class='colearn-roster-grid' style='{GRID_STYLE}'>{tiles}</div>"


def roster_table(roster: list[dict[str, Any]]) -> str:
    """The laptops as an HTML table: learner, name, connection, last round (``ClassHost.roster``'s rows);
    from ``GRID_FROM`` laptops, a grid of tiles (``roster_grid``).

    >>> "ada" in roster_table([{"learner": 0, "name": "ada", "connection": "online", "last_round": None}])
    True
    """
    if len(roster) >= GRID_FROM:
        return roster_grid(roster)
    columns = ("learner", "name", "connection", "last round")
    head = "".join(f"<th style='{CELL_STYLE}'>{column}</th>" for column in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td style='{CELL_STYLE}'>{value}</td>" for value in (
            row["learner"], html.escape(str(row["name"])), SHOWN.get(row.get("connection"), "?"),
            SHOWN.get(row.get("last_round"), "?"))) + "</tr>" for row in roster)
    return f"<table class='colearn-roster'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


class Projector:
    """A form that opens the class, then its join line, the laptops as they join, the scores and votes live.

    ``open_class(directory, n_learners=, address=, port=)`` returns the host, a context manager with
    ``join_line()``, ``join_options()``, ``roster(results)``, ``wait_for_class(timeout, start_now)``,
    ``run_class(n_rounds, vote_threshold, round_deadline, on_round)``, ``set_attack(learner, attack)`` and
    ``set_vote_threshold(value)`` (the teacher's controls, ``teach``); ``pretend_laptop(directory,
    address=, code=, ca_sha256=, name=)`` one laptop with ``start()`` and ``close()``. The class runs in a
    background thread; its results are saved to ``results_path`` when it ends.

        projector = Projector(open_class=ClassHost, pretend_laptop=PretendRoom(), address=room_address())
    """

    def __init__(self, open_class: Callable[..., Any], pretend_laptop: Callable[..., Any] | None = None,
                 address: str = "127.0.0.1", port: int = 9093, n_learners: int = 3, n_rounds: int = 10,
                 vote_threshold: float = 0.5, round_deadline: float = DEFAULT_DEADLINE_S,
                 pretend_laptops: int = 0,
                 directory: str | Path = "classroom_host",
                 results_path: str | Path = "classroom_results.json",
                 score_name: str = "categorical accuracy", refresh_s: float = 10.0):
        self.open_class, self.pretend_laptop = open_class, pretend_laptop
        self.directory, self.results_path = Path(directory), Path(results_path)
        self.score_name, self.refresh_s = score_name, refresh_s
        self.results: Results | None = None
        self.error: BaseException | None = None
        self.host: Any = None
        self._start_now, self._ended, self._new_round = (threading.Event() for _ in range(3))
        self._worker: threading.Thread | None = None
        self._build_widgets({"address": address, "port": port, "n_learners": n_learners, "n_rounds": n_rounds,
                             "vote_threshold": vote_threshold, "round_deadline": round_deadline,
                             "pretend_laptops": pretend_laptops})
        self.live = LivePlot(score_name, on_frame=self._show_frame)

    def __repr__(self) -> str:
        state = ("not open" if self._worker is None else "open" if self.running
                 else "ended with an error" if self.error else "ended")
        rounds = 0 if self.results is None else len(self.results.data) - 1
        return f"Projector({state}, {rounds} rounds, {self.form['n_learners'].value} learners)"

    def _build_widgets(self, settings: dict[str, Any]) -> None:
        import ipywidgets as widgets

        style, width = {"description_width": "initial"}, widgets.Layout(width="auto", min_width="190px")
        labels = {"address": ("Text", "address laptops dial"), "port": ("BoundedIntText", "port"),
                  "n_learners": ("BoundedIntText", "learners"), "n_rounds": ("BoundedIntText", "rounds"),
                  "vote_threshold": ("BoundedFloatText", "vote threshold"),
                  "round_deadline": ("BoundedFloatText", "deadline (s)"),
                  "pretend_laptops": ("BoundedIntText", "pretend laptops (a rehearsal)")}
        bounds = {**CLASS_LIMITS, "pretend_laptops": (0, CLASS_LIMITS["n_learners"][1])}  # as the check does
        self.form = {name: getattr(widgets, kind)(
            value=settings[name], description=label, style=style, layout=width,
            **dict(zip(("min", "max"), bounds.get(name, ()), strict=False)))
            for name, (kind, label) in labels.items()}
        for name, field in self.form.items():
            field.add_class(f"colearn-{name.replace('_', '-')}")
        fits = widgets.Layout(width="auto", min_width="max-content")  # the whole label, in Lab and Voila
        self.open_button = widgets.Button(description="Open the class", icon="play", button_style="primary",
                                          layout=fits)
        self.start_button = widgets.Button(description="Start with those in", icon="forward", disabled=True,
                                           tooltip="start now, without waiting for every learner",
                                           layout=widgets.Layout(width="auto", min_width="max-content"))
        self.open_button.on_click(lambda _button: self.open())
        self.start_button.on_click(lambda _button: self.start_now())
        self.join = widgets.HTML().add_class("colearn-join")
        self.status = widgets.HTML("Set the class up, then open it.").add_class("colearn-status")
        self.roster = widgets.HTML().add_class("colearn-roster")
        self.plot = widgets.Image(format="png", layout=widgets.Layout(  # shown from the first round's picture
            width="720px", max_width="100%", display="none"))
        teach = self._build_teach_widgets(settings, style)
        for widget, name in ((self.open_button, "open"), (self.start_button, "start-now"),
                             (self.plot, "plot")):
            widget.add_class(f"colearn-{name}")
        form = widgets.HBox([*self.form.values(), self.open_button, self.start_button],
                            layout=widgets.Layout(flex_flow="row wrap"))
        side = widgets.VBox([self.status, self.roster],
                            layout=widgets.Layout(width="440px", max_width="100%"))
        self.widget = widgets.VBox([widgets.HTML(PAGE_STYLE), form, self.join, teach, widgets.Box(
            [side, self.plot], layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))])
        self.widget.add_class("colearn-projector")

    def _build_teach_widgets(self, settings: dict[str, Any], style: dict[str, str]) -> Any:
        """The teacher's controls: a learner, what it proposes, the threshold, the button applying them."""
        import ipywidgets as widgets

        fits = widgets.Layout(width="auto", min_width="max-content")
        self.teach_learner = widgets.BoundedIntText(value=0, min=0, max=max(settings["n_learners"] - 1, 0),
                                                    description="learner", style=style,
                                                    layout=widgets.Layout(width="125px"))
        self.teach_attack = widgets.Dropdown(options=TEACH_CHOICES, value="honest", layout=fits)
        self.teach_threshold = widgets.BoundedFloatText(value=settings["vote_threshold"], min=0, max=1,
                                                        step=0.05, description="threshold", style=style,
                                                        layout=widgets.Layout(width="150px"))
        self.teach_button = widgets.Button(description="Apply from the next round", icon="check",
                                           disabled=True, layout=fits)
        self.teach_button.on_click(lambda _button: self.teach())
        self.teach_note = widgets.HTML().add_class("colearn-teach-note")
        for widget, name in ((self.teach_learner, "teach-learner"), (self.teach_attack, "teach-attack"),
                             (self.teach_threshold, "teach-threshold"), (self.teach_button, "teach")):
            widget.add_class(f"colearn-{name}")
        return widgets.HBox([widgets.HTML("<b>Teach:</b>"), self.teach_learner, self.teach_attack,
                             self.teach_threshold, self.teach_button, self.teach_note],
                            layout=widgets.Layout(flex_flow="row wrap", align_items="center"))

    def teach(self, learner: int | None = None, attack: str | None = None,
              vote_threshold: float | None = None) -> str:
        """From the next round: ``learner`` proposes ``attack`` (``"honest"``, ``"garbage"``, ``"sign-flip"``)
        and the vote threshold is ``vote_threshold`` (each the teach row's value when not given); what is
        set now, in words, also shown beside the row. ``ValueError`` says what is wrong (before the class is
        open too)."""
        learner = self.teach_learner.value if learner is None else learner
        attack = self.teach_attack.value if attack is None else attack
        vote_threshold = self.teach_threshold.value if vote_threshold is None else vote_threshold
        host = self._open_host()
        if host is None:
            raise ValueError("teach: the class is not open; open it first, then teach between rounds")
        try:
            host.set_attack(learner, None if attack == "honest" else attack)
            said = f"From the next round: {host.set_vote_threshold(vote_threshold).describe()}"
        except ValueError as wrong:
            said = f"Not applied: {wrong}"
            self.teach_note.value = html.escape(said)
            raise
        self.teach_note.value = html.escape(said)
        return said

    def _open_host(self, timeout_s: float = 120.0) -> Any:
        """The open class's host (waiting while it opens, e.g. just after ``open()``), or ``None``."""
        deadline = time.monotonic() + timeout_s
        while self.running and self.host is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.host if self.running else None

    def _repr_mimebundle_(self, **kwargs) -> dict:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def running(self) -> bool:
        """True from ``open`` until the class has ended."""
        return self._worker is not None and self._worker.is_alive()

    def settings(self) -> dict[str, Any]:
        """The form's values, checked; ``ValueError`` says which one is wrong."""
        values = {name: self.form[name].value for name in FORM_FIELDS}
        checked = check_class_settings(values)  # the same checks as the host command's
        check_int("pretend_laptops", values["pretend_laptops"], minimum=0, maximum=checked["n_learners"],
                  hint=" (at most the number of learners)")
        if values["pretend_laptops"] and self.pretend_laptop is None:
            raise ValueError("pretend_laptops: this projector was made without pretend_laptop=Participant")
        return values | checked

    def open(self, **settings: Any) -> bool:
        """Open the class with the form's settings (``settings`` fill it in first); False if open already."""
        if self.running:
            return False
        for name, value in settings.items():
            self.form[name].value = value
        try:
            checked = self.settings()
        except ValueError as bad:
            self.status.value = html.escape(f"Not opened: {bad}")
            raise
        self._start_now.clear()
        self.host = None  # this class's host, once open (teach waits for it)
        self.live = LivePlot(self.score_name, on_frame=self._show_frame)  # a class opened again: a new plot
        self._set_open(True)
        self._worker = threading.Thread(target=self._run_class, args=(checked,), name="colearn-projector",
                                        daemon=True)
        self._worker.start()
        return True

    def start_now(self) -> None:
        """Start the rounds with the laptops that have joined (at least 2), without waiting for the rest."""
        self._start_now.set()

    def wait(self, timeout: float | None = None) -> Results | None:
        """Wait for the class to end; its ``Results`` (None if it failed: see ``error``, or still running)."""
        if self._worker is not None:
            self._worker.join(timeout)
        return None if self.running else self.results

    def _run_class(self, settings: dict[str, Any]) -> None:
        self.results, self.error = None, None
        try:
            with self.open_class(self.directory, n_learners=settings["n_learners"],
                                 address=settings["address"], port=settings["port"]) as host:
                self.host = host
                self.join.value = ("<div class='colearn-join-title'>Join the class: type this line in a "
                                   f"terminal</div><pre class='colearn-join-line' style='{JOIN_LINE_STYLE}'>"
                                   f"{html.escape(host.join_line())}</pre>")
                self._play(host, settings)
            self.status.value = html.escape(f"Done. {status_line(self.results, self.score_name)}; results in "
                                            f"{self.results_path}")
        except Exception as exc:  # shown on the page: a background thread has nobody else to tell
            self.error = exc
            log.exception("the class stopped")
            logs = self.directory / "logs"
            self.status.value = html.escape(f"The class stopped: {shorten(str(exc), 300)} (logs: {logs})")
        finally:
            self._set_open(False)

    def _play(self, host: Any, settings: dict[str, Any]) -> None:
        """Pretend laptops (if any) join, everyone is waited for, the rounds run; results saved."""
        laptops = self._pretend_laptops(host, settings["pretend_laptops"])
        self._ended.clear()
        watcher = threading.Thread(target=self._watch, args=(host,), name="colearn-roster", daemon=True)
        watcher.start()
        try:
            n_joined = self._wait_for_laptops(host, settings["n_learners"])
            self.status.value = f"{n_joined} learners in: the rounds begin (the first takes longest)"
            self.start_button.disabled = True
            self.results = host.run_class(settings["n_rounds"], settings["vote_threshold"],
                                          settings["round_deadline"], on_round=self._on_round)
            self.live.finish(self.results)
            self.results.save(self.results_path)
            self.roster.value = roster_table(host.roster(self.results))
        finally:
            self._ended.set()
            self._new_round.set()
            watcher.join(timeout=30)
            for laptop in laptops:
                laptop.close()

    def _pretend_laptops(self, host: Any, n_laptops: int) -> list[Any]:
        """``n_laptops`` laptops on this machine, joining in the background as real ones would."""
        if self.pretend_laptop is None:
            return []
        options = host.join_options()
        laptops = [self.pretend_laptop(self.directory / f"pretend{i}", **options, name=f"pretend {i}")
                   for i in range(n_laptops)]
        for laptop in laptops:
            threading.Thread(target=self._join, args=(laptop,), name="colearn-pretend", daemon=True).start()
        return laptops

    def _join(self, laptop: Any) -> None:
        try:
            laptop.start()
        except Exception as exc:  # the class waits on; the page says why this laptop is not in
            log.exception("a pretend laptop could not join")
            self.status.value = html.escape(f"A pretend laptop could not join: {exc}")

    def _wait_for_laptops(self, host: Any, n_learners: int) -> int:
        """Wait for every learner, or the Start button with at least 2 in; the roster meanwhile."""
        while True:
            try:
                return host.wait_for_class(timeout=1.0, start_now=self._start_now)
            except TimeoutError:
                joined = len(host.members)
                self.status.value = (f"{joined} of {n_learners} laptops joined; waiting for the rest"
                                     + ("" if joined < 2 else " (or press Start with those in)"))

    def _watch(self, host: Any) -> None:
        """Refresh the roster (who joined, who is connected) after each round, and every ``refresh_s``."""
        while True:
            try:
                self.roster.value = roster_table(host.roster(self.results))
            except Exception:  # the class closing under it: the next refresh or the end tells
                log.debug("roster refresh failed", exc_info=True)
            waiting = len(host.members) < host.n_learners
            self._new_round.wait(1.0 if waiting else self.refresh_s)
            self._new_round.clear()
            if self._ended.is_set():
                return

    def _on_round(self, results: Results) -> None:
        self.results = results
        self.live.update(results)
        self.status.value = html.escape(status_line(results, self.score_name))
        self._new_round.set()

    def _show_frame(self, frame: bytes) -> None:
        self.plot.value = frame
        self.plot.layout.display = None

    def _set_open(self, is_open: bool) -> None:
        for widget in (*self.form.values(), self.open_button):
            widget.disabled = is_open
        self.start_button.disabled = self.teach_button.disabled = not is_open
        if is_open:  # the learners of this class
            self.teach_learner.max = self.form["n_learners"].value - 1
            self.teach_threshold.value = self.form["vote_threshold"].value
