"""The code is clean: ruff finds nothing in the package, tests, benchmarks and scripts, and mypy finds no
type errors in the protocol and pytorch layers. Both run with their settings in pyproject.toml."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF_PATHS = ["colearn_nb", "tests", "benchmarks", "scripts"]


def run_tool(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repository root; skips the test when the tool is not installed."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -r requirements-dev.txt)")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_ruff_finds_nothing():
    run = run_tool("ruff", "check", "--output-format=concise", *RUFF_PATHS)
    assert run.returncode == 0, f"ruff check {' '.join(RUFF_PATHS)}:\n{run.stdout}{run.stderr}"


def test_mypy_finds_nothing():
    run = run_tool("mypy")  # which files and how: [tool.mypy] in pyproject.toml
    assert run.returncode == 0, f"mypy:\n{run.stdout}{run.stderr}"
