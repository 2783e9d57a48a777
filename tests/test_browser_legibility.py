"""Notebooks as a learner sees them on a laptop: JupyterLab at 1366 x 768 with the file browser open.

No line of text a notebook prints (or its markdown shows in a code block) may be wider than its box, where it
would wrap mid-phrase or need sideways scrolling, and no figure may be wider than the notebook or taller than
the part of it on screen. The notebooks are not run again: the session's one nbval run
(``test_notebooks.run_nbval_once``) keeps each notebook with its outputs, and JupyterLab opens those copies.
Screenshots of each notebook (at its first problem, if any) are saved in ARTIFACTS.
"""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_browser import (  # skips this module, as test_browser, where no browser is installed
    ARTIFACTS,
    STEP_TIMEOUT_MS,
    TOKEN,
    chromium_page,
    free_port,
    isolated_env,
    open_file_browser,
    server_process,
    wait_for_server,
    write_lab_settings,
)
from test_notebooks import NOTEBOOK_DIR, read_notebook, run_nbval_once

CHECKED = ("00", "05", "07", "08", "09", "10", "13")
WIDTH, HEIGHT = 1366, 768
SMALLEST_SCALE = 0.7  # a figure shown at less than 70 % of its size has text too small to read

# Problems in the open notebook: text lines wider than their box, figures too wide, too tall or too shrunk
MEASURE = """({smallest}) => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  const area = panel.querySelector('.jp-WindowedPanel-outer') || panel.querySelector('.jp-Notebook');
  const cellOf = el => [...panel.querySelectorAll('.jp-Cell')].indexOf(el.closest('.jp-Cell'));
  const problems = [];
  const texts = panel.querySelectorAll('.jp-OutputArea-output pre, .jp-RenderedMarkdown pre');
  for (const pre of texts) {
    const probe = pre.cloneNode(true);
    Object.assign(probe.style, {position: 'absolute', visibility: 'hidden', whiteSpace: 'pre',
                                width: 'max-content', maxWidth: 'none', left: '0', top: '0'});
    pre.parentElement.appendChild(probe);
    const needed = probe.getBoundingClientRect().width;
    probe.remove();
    const box = pre.clientWidth;
    if (needed > box + 1 || pre.scrollWidth > box + 1) {
      const longest = pre.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '');
      problems.push({cell: cellOf(pre), kind: 'text line wider than its box', needed: Math.round(needed),
                     box, line: longest.slice(0, 120)});
    }
  }
  for (const img of panel.querySelectorAll('.jp-OutputArea-output img')) {
    const shown = img.getBoundingClientRect(), box = img.closest('.jp-OutputArea-output').clientWidth;
    const scale = shown.width / (img.naturalWidth || shown.width);
    const where = {cell: cellOf(img), width: Math.round(shown.width), height: Math.round(shown.height),
                   natural: [img.naturalWidth, img.naturalHeight], box, area: area.clientHeight};
    if (shown.width > box + 1) problems.push({kind: 'figure wider than its box', ...where});
    const tall = 'figure taller than the notebook area';
    if (shown.height > area.clientHeight) problems.push({kind: tall, ...where});
    if (scale < smallest) problems.push({kind: 'figure shrunk to ' + scale.toFixed(2), ...where});
  }
  return problems;
}"""


@pytest.fixture(scope="module")
def kept_notebooks(tmp_path_factory) -> Path:
    """A folder with the checked notebooks as the session's nbval run left them, outputs and all."""
    outputs = run_nbval_once(tmp_path_factory)["outputs"]
    folder = tmp_path_factory.mktemp("legibility") / "notebooks"
    folder.mkdir()
    for number in CHECKED:
        name = next(NOTEBOOK_DIR.glob(f"{number}_*.ipynb")).name
        assert (outputs / name).exists(), f"the nbval run kept no {name}"
        shutil.copy(outputs / name, folder / name)
    return folder


@contextmanager
def lab_on(folder: Path, home: Path):
    """JupyterLab serving ``folder`` (nothing is run), and a Chromium page; yields (page, base url)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    write_lab_settings(home / "settings")
    port = free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}",
               f"--LabApp.user_settings_dir={home / 'settings'}",
               f"--LabApp.workspaces_dir={home / 'workspaces'}",
               "--LabApp.news_url=", "--ServerApp.open_browser=False"]
    with server_process(command, home, ARTIFACTS / "jupyterlab_legibility.log", isolated_env(home)) as server:
        wait_for_server(port, server, f"/api/status?token={TOKEN}")
        with chromium_page(home / "profile") as page:
            page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
            yield page, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def lab(kept_notebooks, tmp_path_factory):
    with lab_on(kept_notebooks, tmp_path_factory.mktemp("lab_home")) as opened:
        yield opened


def open_notebook(page, base: str, path: Path) -> None:
    """Open ``path`` in JupyterLab, file browser open, every cell and figure drawn."""
    page.goto(f"{base}/lab/tree/{path.name}?reset&token={TOKEN}")  # reset: only this notebook open
    page.locator(".jp-NotebookPanel .jp-Notebook >> visible=true").first.wait_for()
    open_file_browser(page)
    n_cells = len(read_notebook(path)["cells"])
    page.wait_for_function(
        "n => { const p = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent);"
        " return p && p.querySelectorAll('.jp-Cell').length === n"
        " && [...p.querySelectorAll('img')].every(i => i.complete); }", arg=n_cells, timeout=STEP_TIMEOUT_MS)
    page.wait_for_timeout(500)  # let the layout settle after the last picture


def screenshot(page, name: str, problems: list) -> None:
    """The notebook on screen, scrolled to its first problem, else to its tallest figure."""
    page.evaluate("""cell => {
      const p = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent);
      const images = [...p.querySelectorAll('.jp-OutputArea-output img')];
      const tallest = images.sort((a, b) => b.height - a.height)[0];
      const target = cell >= 0 ? p.querySelectorAll('.jp-Cell')[cell] : tallest;
      if (target) target.scrollIntoView(); }""", problems[0]["cell"] if problems else -1)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"legibility_{name}.png"))


@pytest.mark.parametrize("number", CHECKED)
def test_nothing_overflows_at_1366_with_the_file_browser_open(lab, kept_notebooks, number):
    page, base = lab
    path = next(kept_notebooks.glob(f"{number}_*.ipynb"))
    open_notebook(page, base, path)
    assert page.locator("#filebrowser").bounding_box()["width"] > 150
    problems = page.evaluate(MEASURE.replace("{smallest}", "smallest"), SMALLEST_SCALE)
    screenshot(page, path.stem, problems)
    assert problems == [], f"{path.name} at {WIDTH}x{HEIGHT}, file browser open: {problems}"


def test_the_check_sees_a_line_too_long_and_a_figure_too_tall(lab, kept_notebooks):
    """The measure finds what it looks for: a printed line of 400 characters, a picture 2000 pixels tall."""
    page, base = lab
    tall = base64.b64encode(tall_png()).decode()
    notebook = {**read_notebook(NOTEBOOK_DIR / "00_start_here.ipynb"), "cells": [
        {"cell_type": "code", "execution_count": 1, "id": "long", "metadata": {},
         "source": "print('x' * 400)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "x" * 400 + "\n"}]},
        {"cell_type": "code", "execution_count": 2, "id": "tall", "metadata": {}, "source": "figure",
         "outputs": [{"output_type": "display_data", "metadata": {},
                      "data": {"image/png": tall, "text/plain": "<Figure>"}}]}]}
    target = kept_notebooks / "zz_too_long.ipynb"  # served by the module's JupyterLab
    target.write_text(json.dumps(notebook))
    open_notebook(page, base, target)
    problems = page.evaluate(MEASURE.replace("{smallest}", "smallest"), SMALLEST_SCALE)
    assert [p["kind"] for p in problems] == ["text line wider than its box",
                                             "figure taller than the notebook area"], problems
    assert re.fullmatch("x{120}", problems[0]["line"])


def tall_png() -> bytes:
    """A picture 300 pixels wide and 2000 tall."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 20), dpi=100)
    figure.add_subplot().plot([0, 1])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
