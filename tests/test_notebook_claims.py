"""Every measured number a notebook's text quotes is asserted by one of its own code cells.

A decimal number (0.946, 2.47) or a percentage (30 %) in a markdown cell must appear literally in a code
cell of the same notebook: settings are there already (`vote_threshold=0.5`), and a measured number is
there only when a cell checks it (`assert abs(final - 0.946) < 0.01`). nbval runs those cells
(test_notebooks.py), so the text and the notebook's own output cannot drift apart unnoticed.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
QUOTED_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])|(?<![\w.])(\d+(?:\.\d+)?)\s?%")
LINK_TARGET = re.compile(r"\]\([^)]*\)")


def quoted_numbers(markdown: str) -> list[str]:
    """The decimal numbers and percentages in markdown text, links left out.

    >>> quoted_numbers("accuracy 0.946 (up 3 %), version 2.14.1, [a](x?v=1.5)")
    ['0.946', '3']
    """
    text = LINK_TARGET.sub("]", markdown)
    return [match.group(1) or match.group(2) for match in QUOTED_NUMBER.finditer(text)]


def unasserted_numbers(path: Path) -> list[str]:
    """The numbers the notebook's markdown quotes that none of its code cells contains."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    markdown = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    return [number for number in quoted_numbers(markdown) if number not in code]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_number_the_text_quotes_is_checked_by_a_cell(path):
    assert unasserted_numbers(path) == [], (
        f"{path.name}: the text quotes these numbers, but no code cell computes and asserts them; add an "
        "assert on the measured value (with its tolerance) in the cell that prints it, or drop the number")
