"""The notebooks: each runs top to bottom in a fresh kernel, is committed clean, and follows the teaching
layout (the Binder image that runs them: test_binder.py)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
NAME_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cell_count(path: Path) -> int:
    return sum(cell["cell_type"] == "code" for cell in read_notebook(path)["cells"])


NBVAL_RUN: dict = {}  # the one nbval run of this session, shared with test_browser_legibility.py


def run_nbval_once(tmp_path_factory) -> dict:
    """Run nbval once over every notebook (a fresh kernel each); per notebook, the outcome of each cell, and
    ``outputs``: a folder holding each notebook as it ran, with its outputs (the ``nbval_outputs`` plugin)."""
    if NBVAL_RUN:
        return NBVAL_RUN
    folder = tmp_path_factory.mktemp("nbval")
    report, outputs = folder / "report.xml", folder / "outputs"
    env = {**os.environ, "COLEARN_NB_OFFLINE": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "COLEARN_NB_OUTPUTS": str(outputs),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-p", "nbval_outputs",
               "-q", "-o", "junit_family=xunit1", f"--junitxml={report}",
               *[str(p.relative_to(ROOT)) for p in NOTEBOOKS]]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert report.exists(), f"nbval wrote no report:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    outcomes: dict = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        notebook = Path(case.get("file") or case.get("classname", "").split("notebooks.", 1)[-1]).name
        failure = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        message = (None if failure is None
                   else f"{failure.tag}: {(failure.text or failure.get('message'))[-2000:]}")
        outcomes.setdefault(notebook, []).append((case.get("name"), message))
    NBVAL_RUN.update(outcomes=outcomes, output=run.stdout[-3000:], outputs=outputs)
    return NBVAL_RUN


@pytest.fixture(scope="session")
def nbval_report(tmp_path_factory) -> dict:
    """The session's nbval run (``run_nbval_once``)."""
    return run_nbval_once(tmp_path_factory)


def test_there_are_notebooks_and_their_names_are_numbered():
    names = [p.name for p in NOTEBOOKS]
    assert "00_start_here.ipynb" in names and len(names) >= 7, names
    assert [n for n in names if not NAME_PATTERN.match(n)] == [], "notebooks are named NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_a_fresh_kernel(path, nbval_report):
    cells = nbval_report["outcomes"].get(path.name)
    assert cells, f"nbval did not collect {path.name}:\n{nbval_report['output']}"
    assert len(cells) == code_cell_count(path), \
        f"{path.name}: {len(cells)} of {code_cell_count(path)} cells ran"
    failed = [(name, message) for name, message in cells if message]
    assert failed == [], f"{path.name}: {failed}"


def test_nbval_collects_every_notebook_in_the_folder():
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                          "--collect-only", "-q", "notebooks"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    collected = {line.split("::")[0] for line in run.stdout.splitlines() if ".ipynb::" in line}
    expected = {str(p.relative_to(ROOT)) for p in NOTEBOOKS}
    assert collected == expected, \
        f"collected {sorted(collected)}, expected {sorted(expected)}\n{run.stdout[-2000:]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_clean(path):
    notebook = read_notebook(path)
    assert notebook["metadata"].get("kernelspec") == KERNELSPEC
    assert set(notebook["metadata"]) <= {"kernelspec", "language_info"}, notebook["metadata"].keys()
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, \
                f"{path.name} cell {index} has output"
        assert set(cell.get("metadata", {})) <= {"tags"}, f"{path.name} cell {index}: {cell['metadata']}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_follows_the_teaching_layout(path):
    cells = read_notebook(path)["cells"]
    text = "\n".join("".join(cell["source"]) for cell in cells)
    first_code = next("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "import" in first_code and "setup_notebook(" in first_code, "first cell: imports and the set-up"
    assert "set_num_threads" not in first_code and "COLEARN_NB_OFFLINE" not in first_code
    assert "## Step 1" in text and "## Recap" in text
    assert "plt.ion()" not in text and "plt.pause(" not in text
    if path.stem.startswith("0") and path.stem < "06":
        assert 2 <= text.count("<details>") <= 3, "two or three exercises with solutions"
        next_number = int(path.name[:2]) + 1
        assert re.search(rf"\*\*Next:\*\* \[{next_number:02d}_\w+\]\({next_number:02d}_\w+\.ipynb\)", text)


def test_the_sequence_links_existing_notebooks():
    text = "".join("".join(c["source"]) for c in read_notebook(NOTEBOOK_DIR / "00_start_here.ipynb")["cells"])
    linked = set(re.findall(r"\((\d\d_\w+\.ipynb)\)", text))
    assert linked and all((NOTEBOOK_DIR / name).exists() for name in linked), linked
    assert {f"0{i}" for i in range(7)} <= {name[:2] for name in linked}


def test_every_notebook_is_kept_with_its_outputs(nbval_report):
    """The nbval run keeps each notebook as it ran, outputs and all (for test_browser_legibility.py)."""
    for path in NOTEBOOKS:
        kept = read_notebook(nbval_report["outputs"] / path.name)
        code = [cell for cell in kept["cells"] if cell["cell_type"] == "code"]
        assert len(code) == code_cell_count(path) and any(cell["outputs"] for cell in code), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_set_up_line_shows_once(path):
    """``setup_notebook`` prints its line; a first cell ending in the bare call would show it again as the
    cell's value (in JupyterLab, Colab and Voila; nbval runs cells without history and shows it anyway)."""
    first = next("".join(c["source"]) for c in read_notebook(path)["cells"] if c["cell_type"] == "code")
    last = first.strip().splitlines()[-1]
    assert not re.fullmatch(r"colearn_nb\.setup_notebook\(.*\)", last.strip()), \
        f"{path.name}: end the first cell with `colearn_nb.setup_notebook(...);` or another statement"
