"""The dashboard notebook in a real browser: JupyterLab (and Voila) driven by headless Chromium
through playwright.

Each server runs in its own process group on 127.0.0.1 with a token and throwaway settings,
workspace, runtime and profile folders, and is stopped by its process group id afterwards.
"""
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

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "07_dashboard.ipynb"
ARTIFACTS = Path(os.environ.get("COLEARN_NB_ARTIFACTS", REPO / "artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "colearn-nb-browser-test"
STEP_TIMEOUT_MS = 60_000

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


def round_number(page) -> int:
    text = page.locator(".colearn-status").last.inner_text(timeout=STEP_TIMEOUT_MS)
    match = re.match(r"Round (\d+)", text)
    assert match, f"unexpected status line {text!r}"
    return int(match.group(1))


def wait_for_round(page, at_least: int) -> int:
    page.wait_for_function("n => { const s = [...document.querySelectorAll('.colearn-status')].pop();"
                           " const m = s && s.innerText.match(/Round (\\d+)/); return m && +m[1] >= n; }",
                           arg=at_least, timeout=STEP_TIMEOUT_MS)
    return round_number(page)


def plot_source(page) -> str:
    return page.locator(".colearn-plot").last.get_attribute("src", timeout=STEP_TIMEOUT_MS)


def click_step_twice_then_run(page) -> tuple:
    """Click Step, Step, Run; returns the round and picture seen before, after the steps and after Run."""
    start_round, start_picture = wait_for_round(page, 0), plot_source(page)
    for expected in (start_round + 1, start_round + 2):
        page.locator(".colearn-step").last.click()
        wait_for_round(page, expected)
    stepped_picture = plot_source(page)
    page.locator(".colearn-run").last.click()
    final_round = wait_for_round(page, start_round + 4)
    page.locator(".colearn-pause").last.click()
    playwright_api.expect(page.locator(".colearn-run").last).to_be_enabled(timeout=STEP_TIMEOUT_MS)
    return start_round, start_picture, stepped_picture, final_round, plot_source(page)


def assert_round_and_picture_advanced(seen: tuple) -> None:
    start_round, start_picture, stepped_picture, final_round, final_picture = seen
    assert start_round == 0 and final_round >= 4
    assert start_picture and stepped_picture and final_picture
    assert len({start_picture, stepped_picture, final_picture}) == 3, "the plot picture changes as rounds run"


def test_dashboard_in_jupyterlab_steps_and_runs(tmp_path):
    """Run all cells in JupyterLab, click Step twice and Run: the round counter and the picture advance."""
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
            try:
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={TOKEN}")
                page.locator(".jp-Notebook").wait_for()
                page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for()
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
                page.locator(".colearn-step").wait_for(timeout=120_000)
                seen = click_step_twice_then_run(page)
            finally:
                page.screenshot(path=str(ARTIFACTS / "dashboard_jupyterlab.png"), full_page=True)
    assert_round_and_picture_advanced(seen)


def test_dashboard_as_a_voila_page_steps_and_runs(tmp_path):
    """``voila notebooks/07_dashboard.ipynb`` serves a standalone page whose buttons work."""
    if shutil.which("voila", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("voila is not installed next to this Python")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
               "--Voila.ip=127.0.0.1", f"--token={TOKEN}"]
    with server_process(command, REPO, ARTIFACTS / "voila.log", isolated_env(tmp_path)) as server:
        wait_for_server(port, server)
        with chromium_page(tmp_path / "profile") as page:
            try:
                page.goto(f"http://127.0.0.1:{port}/?token={TOKEN}")
                page.locator(".colearn-step").wait_for(timeout=120_000)
                seen = click_step_twice_then_run(page)
            finally:
                page.screenshot(path=str(ARTIFACTS / "dashboard_voila.png"), full_page=True)
    assert_round_and_picture_advanced(seen)
