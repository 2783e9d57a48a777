"""Accepting everywhere or nowhere: each learner's weights kept just before it accepts, restored on failure.

``run_one_round`` and ``set_equal_weights`` accept through ``accept_or_roll_back``. Not taught in a
notebook: README's "Every learner or none" says what it guarantees.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from types import FrameType, TracebackType

from .interface import MachineLearningInterface, Weights
from .weights import weights_equal


class AcceptFailed(Exception):
    """A learner failed to accept and the learners were rolled back; ``rollback`` says how that went."""

    def __init__(self, learner_index: int, cause: BaseException, not_restored: list[str]):
        super().__init__(f"learner {learner_index} failed to accept: {cause}")
        self.learner_index, self.cause, self.not_restored = learner_index, cause, not_restored

    @property
    def rollback(self) -> str:
        """The rollback in words."""
        if not self.not_restored:
            return "every learner was rolled back to the weights it held before"
        return ("the other learners were rolled back to the weights they held before, but "
                + "; ".join(self.not_restored) + ": their weights may differ from the others'")


def accept_or_roll_back(learners: Sequence[MachineLearningInterface], weights: Weights,
                        indices: Sequence[int] | None = None) -> None:
    """Each learner (of ``indices``, default all) accepts ``weights``, or each gets its old weights back.

    Just before its accept, each learner's weights are copied (``mli_get_current_weights``). When an
    accept raises (or Ctrl-C interrupts it), every learner that got that far, the failing one
    included, accepts its copy again, and ``AcceptFailed`` is raised (Ctrl-C: ``KeyboardInterrupt``).
    A rollback accept that raises counts as done when the learner holds its copy anyway
    (``weights_equal``), else ``AcceptFailed`` names it. From the first failure to the end of the
    rollback, Ctrl-C waits and is raised after it (with Python's own Ctrl-C handler, in the main
    thread, as in plain Python and Jupyter; elsewhere Ctrl-C does not reach this code).
    """
    previous: list[tuple[int, Weights]] = []
    current = -1
    with HeldInterrupts() as interrupts:
        try:
            for current in range(len(learners)) if indices is None else indices:
                previous.append((current, learners[current].mli_get_current_weights()))
                learners[current].mli_accept_weights(weights)
        except BaseException as exc:
            interrupts.holding = True  # a further Ctrl-C waits for the rollback
            failed = AcceptFailed(current, exc, roll_back(learners, previous))
            if isinstance(exc, KeyboardInterrupt) or interrupts.held:
                if isinstance(exc, KeyboardInterrupt):
                    exc.add_note(f"Ctrl-C while learner {current} was accepting; {failed.rollback}")
                    raise
                interrupt = KeyboardInterrupt()
                interrupt.add_note(f"Ctrl-C during the rollback after learner {current} failed to accept "
                                   f"({type(exc).__name__}: {exc}); {failed.rollback}")
                raise interrupt from exc
            raise failed from exc


def roll_back(learners: Sequence[MachineLearningInterface],
              previous: Sequence[tuple[int, Weights]]) -> list[str]:
    """Each learner accepts its old weights again; returns, in words, the learners that do not hold them."""
    not_restored = []
    for i, old in previous:
        try:
            learners[i].mli_accept_weights(old)
        except BaseException as exc:  # noqa: BLE001 (a learner's accept raising anything: check its weights)
            if not holds(learners[i], old):
                not_restored.append(f"learner {i} could not be rolled back ({type(exc).__name__}: {exc})")
    return not_restored


def holds(learner: MachineLearningInterface, weights: Weights) -> bool:
    """Whether the learner's current weights equal ``weights`` (False when they cannot be read)."""
    try:
        return weights_equal(learner.mli_get_current_weights().weights, weights.weights)
    except Exception:  # noqa: BLE001
        return False


class HeldInterrupts:
    """Ctrl-C (SIGINT) raises until ``holding`` is set (the first Ctrl-C sets it), then waits for the end.

    Only with Python's own handler installed and in the main thread; otherwise it changes nothing.
    """

    def __init__(self) -> None:
        self.holding, self.held = False, False
        self._installed = False

    def __enter__(self) -> HeldInterrupts:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._on_interrupt)
            self._installed = True
        return self

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        if self.holding:
            self.held = True
            return
        self.holding = True
        raise KeyboardInterrupt

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if self.held and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt("Ctrl-C pressed while the learners were rolled back, raised after it")
