"""``host`` and ``join`` end cleanly however they are ended: Enter, Ctrl-C (SIGINT), SIGTERM, SIGHUP, SIGKILL.

The real commands on this machine's loopback (no root needed). A host waiting for its laptops gets each
signal: within seconds it is gone with every process it started (the SuperLink, Flower's SuperExec, the
guard), and says so in one line without a traceback; after SIGKILL, which nothing can catch, its guard
ends them. A whole class of two laptops is ended by the teacher's Enter during the rounds: the rounds done
are saved, every process of the host is gone, each laptop showed its learner's proposal or vote; then
each laptop's ``join`` is ended by SIGHUP and SIGTERM, its SuperNode and worker with it.
"""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("flwr")
sys.path.insert(0, str(Path(__file__).parent))
from flower.processes import descendants, still_running  # noqa: E402

from colearn_nb import Results  # noqa: E402
from colearn_nb.flower.deploy.loopback import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_ROUNDS = 20


def command(tmp_path: Path, name: str, *args: str) -> subprocess.Popen:
    """``python -m colearn_nb ARGS`` in ``tmp_path``, its output in ``NAME.out`` and ``NAME.err``."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with open(tmp_path / f"{name}.out", "wb") as out, open(tmp_path / f"{name}.err", "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "colearn_nb", *args], stdin=subprocess.PIPE,
                                stdout=out, stderr=err, env=env, cwd=tmp_path)


def start_host(tmp_path: Path, n_learners: int = 2) -> subprocess.Popen:
    return command(tmp_path, "host", "host", "--learners", str(n_learners), "--rounds", str(N_ROUNDS),
                   "--address", "127.0.0.1", "--port", str(free_port()), "--deadline", "60",
                   "--dir", "host", "--results", "results.json")


def wait_for(path: Path, pattern: str, timeout: float, process: subprocess.Popen) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if match := re.search(pattern, text, re.MULTILINE):
            return match
        if process.poll() is not None:
            pytest.fail(f"{process.args[3:5]} ended ({process.returncode}) before {pattern!r}:\n"
                        f"{text[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"no {pattern!r} in {path} within {timeout} s:\n{path.read_text(errors='replace')[-3000:]}")


def wait_for_processes(process: subprocess.Popen, names: tuple[str, ...], timeout: float) -> dict[int, str]:
    """``process``'s descendants once one runs each of ``names``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        below = descendants(process.pid)
        commands = " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                            for pid in below if Path(f"/proc/{pid}/cmdline").exists())
        if all(name in commands for name in names):
            return below
        time.sleep(0.2)
    pytest.fail(f"{names} did not all start below {process.args[3:5]} within {timeout} s")


def assert_ended_cleanly(process: subprocess.Popen, below: dict[int, str], output: Path, line: str) -> None:
    """``process`` ends within seconds, every process below it too; the last line of ``output`` (its .out or
    .err) matches ``line``, and neither holds a traceback."""
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{process.args[3:5]} still running 20 s after it was ended:\n"
                    f"{output.read_text()[-2000:]}")
    assert still_running(below, wait_s=10) == set(), "processes of the class left running"
    for written in (output.with_suffix(".out"), output.with_suffix(".err")):
        assert "Traceback" not in written.read_text(errors="replace"), written.read_text()[-3000:]
    text = output.read_text(errors="replace")
    assert re.fullmatch(line, text.strip().splitlines()[-1]), text[-2000:]


@pytest.mark.parametrize("ending", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_waiting_host_ends_cleanly_on_each_signal(tmp_path, ending):
    host = start_host(tmp_path)
    wait_for(tmp_path / "host.out", r"^python -m colearn_nb join ", 120, host)
    below = wait_for_processes(host, ("flower-superlink", "flower-superexec"), 60)
    host.send_signal(ending)
    assert_ended_cleanly(host, below, tmp_path / "host.err",
                         rf"host: the class ended \({ending.name}\) before its first round; every process "
                         "it started has ended; nothing to save")
    assert host.returncode == 128 + ending
    assert not (tmp_path / "results.json").exists()


def test_a_killed_host_leaves_nothing_running(tmp_path):
    """SIGKILL cannot be caught: the host's guard ends the SuperLink, and Flower's SuperExec with it."""
    host = start_host(tmp_path)
    wait_for(tmp_path / "host.out", r"^python -m colearn_nb join ", 120, host)
    below = wait_for_processes(host, ("flower-superlink", "flower-superexec"), 60)
    host.kill()
    host.wait(timeout=10)
    assert still_running(below, wait_s=15) == set(), "the SuperLink or SuperExec outlived the killed host"


def test_a_class_ended_by_enter_keeps_its_rounds_and_each_laptop_leaves_cleanly(tmp_path):
    host = start_host(tmp_path)
    join_line = wait_for(tmp_path / "host.out", r"^python -m colearn_nb join (\S+) (\S+)$", 120, host)
    laptops = [command(tmp_path, f"laptop{i}", "join", *join_line.groups(), "--dir", f"laptop{i}")
               for i in range(2)]
    try:
        wait_for(tmp_path / "host.err", r"^round 0: ", 400, host)
        below = wait_for_processes(host, ("flower-superlink", "flower-superexec", "flwr-serverapp"), 10)
        host.stdin.write(b"\n")
        host.stdin.flush()
        assert_ended_cleanly(host, below, tmp_path / "host.err",
                             rf"host: the class ended \(Enter\) after \d+ of {N_ROUNDS} rounds; every "
                             r"process it started has ended; (the round|those rounds) saved in results.json")
        assert host.returncode == 0
        n_done = int(re.search(r"after (\d+) of", (tmp_path / "host.err").read_text()).group(1))
        assert 1 <= n_done < N_ROUNDS and len(Results.load(tmp_path / "results.json").data) == n_done + 1
        shown = "".join((tmp_path / f"laptop{i}.out").read_text() for i in range(2))  # their learners' events
        assert re.search(r"^round 0: proposed new weights \(they score 0\.\d+ on my vote set\)$", shown, re.M)
        assert re.search(r"^round 0: voted (yes|no) \(the proposal scores 0\.\d+ on my vote set, my weights "
                         r"[\d.]+\)$", shown, re.M), shown
        for i, ending in enumerate((signal.SIGHUP, signal.SIGTERM)):
            below = wait_for_processes(laptops[i], ("flower.deploy.supernode", "--worker-app"), 10)
            laptops[i].send_signal(ending)
            assert_ended_cleanly(laptops[i], below, tmp_path / f"laptop{i}.out",
                                 rf"join: left the class \({ending.name}\); this laptop's SuperNode and "
                                 "worker have ended")
            assert laptops[i].returncode == 128 + ending
    finally:
        for process in (host, *laptops):
            if process.poll() is None:
                process.kill()
