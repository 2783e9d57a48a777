"""The ServerApp ``flwr run`` starts for a deployment, whatever ClientApp its learners run.

``flwr run`` loads ``colearn_nb.flower.deploy.server_app:server_app``; its settings come from the run
config (``n-learners``, ``n-rounds``, ``vote-threshold``, ``timeout``, ``round-deadline``: seconds, 0 for
none, see ``run_colearn``; ``fast-polling``; ``results-path``). It runs ``run_colearn`` and writes the
rounds as they complete, then the results, in the files ``ResultsFiles`` names; before each round it reads
the teacher's controls from there (``ResultsFiles.read_controls``). Taught in notebook 12
(its deployment recipe).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from .results_files import ResultsFiles

logger = logging.getLogger(__name__)
# flwr run looks the app up in __all__; F822: it is not undefined, the module __getattr__ makes it
__all__ = ["server_app"]  # noqa: F822


def _deployment_server_app():
    """The ServerApp for ``flwr run``: settings from the run config, ``Results`` written as JSON."""
    from flwr.serverapp import ServerApp

    from .. import transport
    from ..server import run_colearn

    app = ServerApp()

    @app.main()
    def main(grid, context) -> None:
        config = context.run_config
        if not config.get("fast-polling", True):
            transport.POLL_INTERVAL_S = None  # Flower's own send_and_receive, for comparison
        round_ends = [time.time()]  # when the ServerApp started, then the end of every round
        waits: list = []  # every learner's wait in every step (roster.AnswerWait)
        files = ResultsFiles(Path(str(config.get("results-path", "colearn_results.json"))))

        def round_done(results) -> None:  # the rounds so far, whole, for whoever follows the run
            round_ends.append(time.time())
            files.write_rounds(results)
            files.write_times(round_ends, waits)

        try:
            results = run_colearn(grid, int(config.get("n-learners", 5)), int(config.get("n-rounds", 20)),
                                  float(config.get("vote-threshold", 0.5)), float(config.get("timeout", 300)),
                                  on_round=round_done,
                                  round_deadline=float(config.get("round-deadline", 0)) or None, waits=waits,
                                  controls=files.read_controls)
        except Exception as exc:  # whoever waits for the results learns why there are none
            files.write_error(exc)
            raise
        files.write_results(results, round_ends, waits)
        logger.info("%r written to %s", results, files.path)

    return app


def __getattr__(name: str) -> Any:
    """``server_app`` is made on first use, so importing this module needs no ``flwr``."""
    if name == "server_app":
        return _deployment_server_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
