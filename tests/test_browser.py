"""The dashboard notebook in a real browser: JupyterLab (and Voila) driven by headless Chromium
through playwright.

Each server runs in its own process group on 127.0.0.1 with a token and throwaway settings,
workspace, runtime and profile folders, and is stopped by its process group id afterwards.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from colearn_nb.protocol.results import Result, Results
from colearn_nb.viz.live import LivePlot
from colearn_nb.viz.projector import roster_table

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "07_dashboard.ipynb"
ARTIFACTS = Path(os.environ.get("COLEARN_NB_ARTIFACTS", REPO / "artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "colearn-nb-browser-test"
STEP_TIMEOUT_MS = 60_000
NOTEBOOK_TIMEOUT_MS = 600_000  # every cell of notebook 07: about a minute idle, several on a loaded machine

playwright_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium, or set CHROMIUM)",
                allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(port: int, server: subprocess.Popen, path: str = "", timeout_s: float = 60) -> None:
    """Wait until ``port`` accepts connections and, if ``path`` is given, answers it with 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} "
                               f"before listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
            if not path:
                return
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"no answer on port {port} {path} within {timeout_s} s")


def process_table() -> dict:
    """{pid: (parent pid, start time)} from Linux /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(stat.parent.name)] = (int(fields[1]), fields[19])
    return table


def descendants(pid: int) -> list:
    """(pid, start time) of every descendant of ``pid``, e.g. kernels started in sessions of their own."""
    table = process_table()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, started) in table.items():
            if ppid == parent:
                found.append((child, started))
                todo.append(child)
    return found


def stop_if_same(pid: int, started: str) -> None:
    """SIGKILL ``pid`` only if it is still the process that started at ``started`` (no reused ids)."""
    if process_table().get(pid, (None, None))[1] == started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def server_process(command: list, cwd: Path, log_path: Path, env: dict):
    """A server in its own process group; the group, then any leftover descendant, is stopped by id."""
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
        try:
            yield server
        finally:
            leftovers = descendants(server.pid)
            for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                try:
                    os.killpg(server.pid, sig)
                    server.wait(timeout=wait_s)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
            # kernels run in sessions of their own; SIGTERM makes the server stop them
            for pid, started in leftovers:
                stop_if_same(pid, started)


def isolated_env(home: Path) -> dict:
    """Jupyter's config, data and runtime folders under ``home``;
    one torch thread to keep the kernel steady."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(home / name.lower())
    env.update(JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def write_lab_settings(settings_dir: Path) -> None:
    """Every cell in the page (no windowing), and no news or update checks."""
    tracker = settings_dir / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    notifications = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notifications.parent.mkdir(parents=True)
    notifications.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@contextmanager
def chromium_page(profile_dir: Path):
    """A page of headless Chromium with a fresh profile in ``profile_dir``."""
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir), executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000,
            viewport={"width": 1600, "height": 1000})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(STEP_TIMEOUT_MS)
            yield page
        finally:
            context.close()


def rounds_run(page) -> int:
    """Rounds run as the status line shows them: 0 at the start, k + 1 at "Round k" (``round_index`` k)."""
    text = page.locator(".colearn-status").last.inner_text(timeout=STEP_TIMEOUT_MS)
    if text.startswith("Start:"):
        return 0
    match = re.match(r"Round (\d+)", text)
    assert match, f"unexpected status line {text!r}"
    return int(match.group(1)) + 1


def wait_for_rounds(page, at_least: int) -> int:
    page.wait_for_function("n => { const s = [...document.querySelectorAll('.colearn-status')].pop();"
                           " if (!s) return false; if (s.innerText.startsWith('Start:')) return n <= 0;"
                           " const m = s.innerText.match(/Round (\\d+)/); return m && +m[1] + 1 >= n; }",
                           arg=at_least, timeout=STEP_TIMEOUT_MS)
    return rounds_run(page)


def plot_source(page) -> str:
    return page.locator(".colearn-plot").last.get_attribute("src", timeout=STEP_TIMEOUT_MS)


def click_step_twice_then_run(page) -> tuple:
    """Click Step, Step, Run; returns the rounds and picture seen before, after the steps and after Run."""
    start_rounds, start_picture = wait_for_rounds(page, 0), plot_source(page)
    for expected in (start_rounds + 1, start_rounds + 2):
        page.locator(".colearn-step").last.click()
        wait_for_rounds(page, expected)
    stepped_picture = plot_source(page)
    page.locator(".colearn-run").last.click()
    final_rounds = wait_for_rounds(page, start_rounds + 4)
    page.locator(".colearn-pause").last.click()
    playwright_api.expect(page.locator(".colearn-run").last).to_be_enabled(timeout=STEP_TIMEOUT_MS)
    return start_rounds, start_picture, stepped_picture, final_rounds, plot_source(page)


def assert_rounds_and_picture_advanced(seen: tuple) -> None:
    start_rounds, start_picture, stepped_picture, final_rounds, final_picture = seen
    assert start_rounds == 0 and final_rounds >= 4
    assert start_picture and stepped_picture and final_picture
    assert len({start_picture, stepped_picture, final_picture}) == 3, "the plot picture changes as rounds run"


@contextmanager
def voila_page(notebook: str, served_from: Path, tmp_path: Path, ready: str, name: str):
    """``voila notebook`` served from ``served_from``, open in Chromium once ``ready`` (a selector) shows;
    its log and a screenshot of the page in ARTIFACTS as ``name``.log and ``name``.png."""
    if shutil.which("voila", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("voila is not installed next to this Python")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "voila", notebook, "--no-browser", f"--port={port}",
               "--Voila.ip=127.0.0.1", f"--token={TOKEN}"]
    with server_process(command, served_from, ARTIFACTS / f"{name}.log", isolated_env(tmp_path)) as server:
        wait_for_server(port, server)
        with chromium_page(tmp_path / "profile") as page:
            try:
                page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}", timeout=NOTEBOOK_TIMEOUT_MS)
                page.locator(ready).wait_for(timeout=NOTEBOOK_TIMEOUT_MS)
                yield page
            finally:
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_dashboard_as_a_voila_page_steps_and_runs(tmp_path):
    """``voila notebooks/07_dashboard.ipynb`` serves a standalone page whose buttons work.

    Defined before the JupyterLab tests: their module-wide browser must not be open beside this one.
    """
    with voila_page(str(NOTEBOOK), REPO, tmp_path, ".colearn-step", "dashboard_voila") as page:
        seen = click_step_twice_then_run(page)
    assert_rounds_and_picture_advanced(seen)


def fill_in(page, field: str, value: object) -> None:
    """Type ``value`` into the projector's form field ``field`` (its class) and let the widget take it."""
    box = page.locator(f".colearn-{field} input").last
    box.fill(str(value))
    box.press("Enter")
    box.press("Tab")


# On the projector page: what shows above the fold, broken pictures, cut button labels, the page's text
PROJECTOR_LOOK = """() => {
  const shown = e => e && e.getClientRects().length > 0, box = e => e.getBoundingClientRect();
  const fold = e => shown(e) && box(e).top >= 0 && box(e).bottom <= window.innerHeight;
  const last = s => [...document.querySelectorAll(s)].pop();
  return {form: [...document.querySelectorAll('.colearn-projector input, .colearn-open')].every(fold),
          join: fold(last('.colearn-join pre')), roster: fold(last('.colearn-roster table')),
          broken: [...document.querySelectorAll('img')].filter(i => shown(i) && !(i.naturalWidth > 0))
                  .map(i => i.src.slice(0, 60)),
          cut: [...document.querySelectorAll('button')].filter(b => shown(b) && b.scrollWidth > b.clientWidth)
               .map(b => b.innerText),
          text: document.body.innerText};
}"""
# The page's roster replaced by a class of 30 (the same HTML the page makes): the grid fits below the join
# line, one line per tile, at most 8 rows
ROOM_OF_30 = """(markup) => {
  const last = s => [...document.querySelectorAll(s)].pop(), box = e => e.getBoundingClientRect();
  last('.colearn-roster .widget-html-content').innerHTML = markup;
  window.scrollTo(0, 0);
  const grid = last('.colearn-roster-grid'), tiles = [...grid.querySelectorAll('.colearn-tile')];
  const join = last('.colearn-join pre');
  return {tiles: tiles.length, fits: box(grid).top >= 0 && box(grid).bottom <= window.innerHeight,
          join: box(join).top >= 0 && box(join).bottom <= box(grid).top,
          rows: new Set(tiles.map(t => Math.round(box(t).top))).size,
          cut_off: tiles.filter(t => box(t).height > 20).map(t => t.innerText)};
}"""
ROSTER_OF_30 = [{"learner": i, "name": f"laptop-{i:02d}.local",
                 "connection": "online" if i % 7 else "offline",
                 "last_round": "missing" if i % 7 == 0 else "answered"} for i in range(30)]
# The page's live picture replaced by that of a class of 30 (the same PNG the page draws): shown whole,
# without scrolling, at its own size (the labels' sizes tests/test_plot_axes.py measures)
PLOT_OF_30 = """async (source) => {
  const plot = [...document.querySelectorAll('.colearn-plot')].pop(), box = e => e.getBoundingClientRect();
  plot.src = source;
  await plot.decode();
  window.scrollTo(0, 0);
  return {fits: box(plot).top >= 0 && box(plot).bottom <= window.innerHeight
                && box(plot).left >= 0 && box(plot).right <= window.innerWidth,
          shown: [box(plot).width, box(plot).height], own: [plot.naturalWidth, plot.naturalHeight]};
}"""


def live_picture_of_30(n_rounds: int = 10) -> str:
    """The projector's live picture (``LivePlot``) of 30 learners after ``n_rounds`` rounds, as a data URL."""
    results = Results([Result(False, [None] * 30, [0.1] * 30, [0.1] * 30)])
    for k in range(n_rounds):
        votes = [None if i == 3 * k else (i + k) % 4 > 0 for i in range(30)]
        scores = [0.1 + k / 20] * 30
        results.append(Result(k % 3 > 0, votes, scores, scores, block_proposer=3 * k))
    frames: list[bytes] = []
    LivePlot(score_name="categorical accuracy", on_frame=frames.append).update(results)
    return "data:image/png;base64," + base64.b64encode(frames[0]).decode()


DEVELOPER_PROSE = ("Projector is the page", "setup_notebook", "Python 3.", "flwr ", "run the cell", "Step 1",
                   "Recap", "room_address(default")


def test_projector_as_a_voila_page_rehearses_a_class(tmp_path):
    """``voila notebooks/13_projector.ipynb`` at 1280x720: the form first, no code or notebook prose; it opens
    a class, two pretend laptops join, the join line (about 60 characters) and the roster show without
    scrolling, then the rounds, and the results are saved beside the notebook. No broken picture, no cut
    button label.

    The notebook is served from a copy in ``tmp_path``, so the class's files land there.
    """
    pytest.importorskip("flwr")
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(REPO / "notebooks" / "13_projector.ipynb", served)
    class_port = free_port()
    with voila_page("13_projector.ipynb", served, tmp_path, ".colearn-open", "projector_voila") as page:
        page.set_viewport_size({"width": 1280, "height": 720})
        before = page.evaluate(PROJECTOR_LOOK)
        page.screenshot(path=str(ARTIFACTS / "projector_voila_form.png"))
        for field, value in (("address", "127.0.0.1"), ("port", class_port), ("n-learners", 2),
                             ("n-rounds", 2), ("pretend-laptops", 2)):
            fill_in(page, field, value)
        page.locator(".colearn-open").last.click()
        join = page.locator(".colearn-join pre").last
        join.wait_for(timeout=120_000)
        join_line = join.inner_text()
        fill_in(page, "teach-learner", 1)  # the teacher: learner 1 proposes garbage, from the next round
        page.locator(".colearn-teach-attack select").last.select_option(label="proposes garbage")
        page.locator(".colearn-teach").last.click()
        page.wait_for_function("() => /learner 1 proposes garbage/.test(document.querySelector("
                               "'.colearn-teach-note').innerText)", timeout=30_000, polling=500)
        page.wait_for_function("() => document.querySelectorAll('.colearn-roster tbody tr').length === 2",
                               timeout=NOTEBOOK_TIMEOUT_MS, polling=1000)
        opened = page.evaluate(PROJECTOR_LOOK)
        page.screenshot(path=str(ARTIFACTS / "projector_voila_open.png"))
        page.wait_for_function("() => /^(Done|The class stopped)/.test(document.querySelector("
                               "'.colearn-status').innerText)", timeout=NOTEBOOK_TIMEOUT_MS, polling=1000)
        ended = page.evaluate(PROJECTOR_LOOK)
        status, roster = (page.locator(f".colearn-{name}").last.inner_text() for name in ("status", "roster"))
        picture = page.locator(".colearn-plot").last.get_attribute("src")
        room = page.evaluate(ROOM_OF_30, roster_table(ROSTER_OF_30))  # a workshop's room, given as data
        votes_of_30 = page.evaluate(PLOT_OF_30, live_picture_of_30())
        page.screenshot(path=str(ARTIFACTS / "projector_voila_30_laptops.png"))
    assert room["tiles"] == 30 and room["fits"] and room["join"], room
    assert votes_of_30["fits"] and votes_of_30["shown"] == votes_of_30["own"], votes_of_30
    assert room["rows"] <= 8 and room["cut_off"] == [], room
    assert before["form"] and not [t for t in DEVELOPER_PROSE if t in before["text"]], before["text"][:1000]
    assert opened["join"] and opened["roster"], "the join line and the roster show without scrolling"
    for look in (before, opened, ended):
        assert look["broken"] == [] and look["cut"] == [], look
    assert re.fullmatch(rf"python -m colearn_nb join 127\.0\.0\.1:{class_port} [A-HJ-NP-Z2-9]{{4}}"
                        r"(-[A-HJ-NP-Z2-9]{4}){4}", join_line.strip()), join_line
    assert len(join_line.strip()) - len(f":{class_port}") <= 60, "at most 60 characters on the default port"
    assert status.startswith("Done. Round 1: ") and "classroom_results.json" in status, status
    assert roster.count("answered") == 2 and "pretend 0" in roster and "pretend 1" in roster, roster
    assert picture and picture.startswith(("data:image/png", "blob:")), picture[:40]
    saved = json.loads((served / "classroom_results.json").read_text())
    assert len(saved["data"]) == 3, "the start and two rounds"
    garbage = saved["data"][2]  # round 1, learner 1's: the teacher's garbage, voted down
    assert garbage["attacks"] == [None, "garbage"] and garbage["votes"] == [False, None], garbage
    assert status.startswith("Done. Round 1: learner 1 proposed garbage (the teacher's attack), rejected"), \
        status


# Every label and value of the last dashboard on the page: [] when all are readable
UNREADABLE = (Path(__file__).parent / "dashboard_readable.js").read_text()


def open_file_browser(page) -> None:
    """JupyterLab's left sidebar showing the file browser, as it opens by default."""
    if not page.locator("#filebrowser").is_visible():
        page.locator(".jp-SideBar.jp-mod-left li[data-id='filebrowser']").click()
    page.locator("#filebrowser").wait_for(state="visible")
    assert page.locator("#filebrowser").bounding_box()["width"] > 150


def unreadable_at(page, width: int, height: int) -> list:
    """Problems left once the page at ``width`` x ``height`` settles (waits up to a step's timeout)."""
    page.set_viewport_size({"width": width, "height": height})
    try:
        page.wait_for_function(f"({UNREADABLE})().length === 0", timeout=STEP_TIMEOUT_MS, polling=500)
    except playwright_api.TimeoutError:
        pass
    return page.evaluate(f"({UNREADABLE})()")


@contextmanager
def jupyterlab_page(tmp_path):
    """JupyterLab on a copy of notebook 07, every cell run, the dashboard drawn; yields the page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (tmp_path / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK.name)  # autosave never touches the repository
    write_lab_settings(tmp_path / "settings")
    port = free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={TOKEN}",
               f"--ServerApp.root_dir={tmp_path / 'notebooks'}",
               f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
               f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.news_url=",
               "--ServerApp.open_browser=False"]
    with server_process(command, tmp_path, ARTIFACTS / "jupyterlab.log", isolated_env(tmp_path)) as server:
        wait_for_server(port, server, f"/api/status?token={TOKEN}")
        with chromium_page(tmp_path / "profile") as page:
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={TOKEN}")
            page.locator(".jp-Notebook").wait_for()
            page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for()
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            try:
                page.locator(".colearn-step").wait_for(timeout=NOTEBOOK_TIMEOUT_MS)
                # the cells after the dashboard too: the kernel answers its buttons only once they are done
                page.wait_for_function("() => ![...document.querySelectorAll('.jp-InputPrompt')]"
                                       ".some(prompt => prompt.innerText.includes('*'))",
                                       timeout=NOTEBOOK_TIMEOUT_MS, polling=1000)
            except playwright_api.TimeoutError:
                page.screenshot(path=str(ARTIFACTS / "dashboard_jupyterlab_not_shown.png"), full_page=True)
                raise
            yield page


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for this module's tests (starting it and running notebook 07 takes minutes here)."""
    with jupyterlab_page(tmp_path_factory.mktemp("lab")) as page:
        yield page


def test_dashboard_in_jupyterlab_steps_and_runs(lab):
    """Run all cells in JupyterLab, click Step twice and Run: the round counter and the picture advance."""
    try:
        seen = click_step_twice_then_run(lab)
    finally:
        lab.screenshot(path=str(ARTIFACTS / "dashboard_jupyterlab.png"))  # full_page would resize JupyterLab
    assert_rounds_and_picture_advanced(seen)


@pytest.mark.parametrize("width, height", [(1366, 768), (1280, 720)])
def test_dashboard_readable_with_the_file_browser_open(lab, width, height):
    """At laptop and projector sizes, sidebar open: every label, slider value, status and table cell whole;
    the buttons, the status line (one line) and the plot on screen together."""
    if rounds_run(lab) == 0:  # a round's table has a proposer and votes
        lab.locator(".colearn-step").last.click()
        wait_for_rounds(lab, 1)
    open_file_browser(lab)
    try:
        problems = unreadable_at(lab, width, height)
    finally:
        lab.screenshot(path=str(ARTIFACTS / f"dashboard_jupyterlab_{width}x{height}.png"))
    assert problems == [], f"at {width}x{height} with the file browser open: {problems}"


# What the dashboard shows from now on, in order, in window.colearnSeen: each change of the status line's
# text or of the plot, as {status, plot}: plot is the picture's address while it is shown, else null
RECORD_SCREEN = """root => {
  const status = root.querySelector('.colearn-status'), plot = root.querySelector('.colearn-plot');
  window.colearnSeen = [];
  const record = () => {
    const now = {status: status.innerText.trim(),
                 plot: getComputedStyle(plot).visibility === 'visible' && plot.src ? plot.src : null};
    const last = window.colearnSeen[window.colearnSeen.length - 1];
    if (now.status && !(last && last.status === now.status && last.plot === now.plot))
      window.colearnSeen.push(now);
  };
  const observer = new MutationObserver(record);
  observer.observe(status, {childList: true, subtree: true, characterData: true});
  observer.observe(plot, {attributes: true});
  record();
}"""


def test_dashboard_reset_shows_the_start_at_once(lab):
    """Reset while running: the old round's status and plot go at once; then the start, with a new plot."""
    lab.locator(".colearn-run").last.click()
    status, wait = lab.locator(".colearn-status").last, {"timeout": STEP_TIMEOUT_MS}
    playwright_api.expect(lab.locator(".colearn-pause").last).to_be_enabled(**wait)
    lab.locator(".colearn-dashboard").last.evaluate(RECORD_SCREEN)
    lab.locator(".colearn-reset").last.click()
    playwright_api.expect(status).to_have_text(re.compile(r"^Start:"), **wait)
    playwright_api.expect(lab.locator(".colearn-run").last).to_be_enabled(**wait)
    seen = lab.evaluate("window.colearnSeen")
    reset = next(i for i, shown in enumerate(seen) if shown["status"].startswith("Resetting"))
    old_plots = {shown["plot"] for shown in seen[:reset]} - {None}  # the plot may go just before the status
    assert old_plots, seen[:reset]
    # the status and the plot change as soon as Reset is pressed, before the round under way ends
    assert seen[reset]["plot"] is None, "no plot beside 'Resetting'"
    assert not any(shown["status"].startswith("Round") for shown in seen[reset:]), seen
    assert not any(shown["plot"] in old_plots for shown in seen[reset:]), "the old plot never comes back"
    assert seen[-1]["status"].startswith("Start:") and seen[-1]["plot"] is not None, seen[-1]
    assert lab.locator(".colearn-votes caption").last.inner_text().endswith("no vote")
