"""A pytest plugin for the nbval run of test_notebooks.py: keep what every cell printed and drew.

With ``COLEARN_NB_OUTPUTS`` set to a folder, each notebook nbval ran is written there under its own name,
every code cell holding the outputs it gave in that run, so tests can look at the outputs
(test_browser_legibility.py opens them in JupyterLab) without running the notebooks again.
Loaded with ``-p nbval_outputs`` (this folder on the path).
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

RAN: dict[str, object] = {}  # notebook file name -> the notebook nbval read, outputs filled in as cells run


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item) -> None:
    """After a cell ran, put the outputs nbval collected into that cell of its notebook."""
    outputs = getattr(item, "test_outputs", None)
    notebook = getattr(item.parent, "nb", None)
    if outputs is None or notebook is None or not hasattr(item, "cell"):
        return
    item.cell.outputs = list(outputs)
    item.cell.execution_count = getattr(item, "cell_num", 0) + 1
    RAN[Path(str(item.parent.fspath)).name] = notebook


def pytest_sessionfinish(session) -> None:
    """Write every notebook that ran into ``COLEARN_NB_OUTPUTS``."""
    folder = os.environ.get("COLEARN_NB_OUTPUTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for name, notebook in RAN.items():
        nbformat.write(notebook, str(Path(folder) / name))
