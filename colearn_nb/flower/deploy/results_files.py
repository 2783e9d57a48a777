"""The files a deployment's ServerApp writes for whoever follows its run: each name defined once, here.

For the results path ``run/results_3.json`` (``ResultsFiles("run/results_3.json")``):

- ``results_3.rounds.json``: the rounds so far, after every round (written as ``results_3.writing``, then
  renamed: a reader never sees half a file);
- ``results_3.json``: the whole run, once it is done (written as ``results_3.partial``, then renamed);
- ``results_3.times.json``: when the ServerApp started and when each round ended (``"round_ends"``, seconds
  since the epoch), and how long each step of each round waited for each learner (``"answer_waits"``: the
  fields of ``roster.AnswerWait``), after every round, for the benchmarks;
- ``results_3.error``: why the ServerApp failed, should it fail;
- ``results_3.controls.json``: the teacher's live controls (``ClassControls``), written by the host when the
  teacher changes them, read by the ServerApp before each round.

Written by the deployment ServerApp (``server_app.py``), read by ``loopback.follow_rounds`` and the
benchmarks; the controls the other way round.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ...protocol.class_controls import ClassControls
from ...protocol.results import Results
from ..roster import AnswerWait


@dataclass(frozen=True)
class ResultsFiles:
    """The names of a run's files beside its results ``path`` and how each is written and read.

    >>> files = ResultsFiles(Path("run/results_3.json"))
    >>> files.rounds.name, files.times.name, files.error.name
    ('results_3.rounds.json', 'results_3.times.json', 'results_3.error')
    """

    path: Path

    @classmethod
    def written_in(cls, folder: str | Path) -> list[ResultsFiles]:
        """The runs whose whole results were written in ``folder`` (``results_*.json``), oldest first."""
        done = [p for p in Path(folder).glob("results_*.json") if len(p.suffixes) == 1]
        return [cls(path) for path in sorted(done, key=lambda p: p.stat().st_mtime)]

    @property
    def rounds(self) -> Path:
        """The rounds so far (``Results``), replaced whole after every round."""
        return self.path.with_suffix(".rounds.json")

    @property
    def times(self) -> Path:
        """When the ServerApp started and each round ended."""
        return self.path.with_suffix(".times.json")

    @property
    def error(self) -> Path:
        """Why the ServerApp failed."""
        return self.path.with_suffix(".error")

    @property
    def controls(self) -> Path:
        """The teacher's controls for the rounds to come (absent until the teacher changes any)."""
        return self.path.with_suffix(".controls.json")

    def write_controls(self, controls: ClassControls) -> None:
        """The teacher's controls (written beside, then renamed: the ServerApp never reads half)."""
        self.controls.with_suffix(".writing").write_text(controls.to_json())
        self.controls.with_suffix(".writing").replace(self.controls)

    def read_controls(self) -> ClassControls | None:
        """The teacher's controls, or ``None`` while the teacher has changed none."""
        try:
            return ClassControls.from_json(self.controls.read_text())
        except FileNotFoundError:
            return None

    def write_rounds(self, results: Results) -> None:
        """The rounds so far, whole (written beside, then renamed)."""
        results.save(self.path.with_suffix(".writing"))
        self.path.with_suffix(".writing").replace(self.rounds)

    def write_times(self, round_ends: list[float], waits: list[AnswerWait]) -> None:
        """When each round ended and every answer's wait (written beside, then renamed)."""
        times = {"round_ends": round_ends, "answer_waits": [asdict(wait) for wait in waits]}
        self.times.with_suffix(".writing").write_text(json.dumps(times))
        self.times.with_suffix(".writing").replace(self.times)

    def write_results(self, results: Results, round_ends: list[float], waits: list[AnswerWait]) -> None:
        """The whole run and its round times; the results file appears whole, last."""
        self.write_times(round_ends, waits)
        results.save(self.path.with_suffix(".partial"))
        self.path.with_suffix(".partial").replace(self.path)

    def write_error(self, error: BaseException) -> None:
        """Why the run failed, for whoever waits for its results."""
        self.error.write_text(f"{type(error).__name__}: {error}")

    def answer_waits(self) -> list[AnswerWait]:
        """Every learner's wait in every step, as the ServerApp measured it."""
        return [AnswerWait(**wait) for wait in json.loads(self.times.read_text()).get("answer_waits", [])]

    def round_ends(self) -> list[float]:
        """When the ServerApp started, then when each round ended (seconds since the epoch)."""
        return [float(end) for end in json.loads(self.times.read_text())["round_ends"]]
