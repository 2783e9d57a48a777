"""Every setting of ``host`` and ``join`` is checked before anything starts, as the projector's form checks.

The real command line, one wrong setting at a time: exit status 2, the kit's message naming the option,
no traceback, no join line, and nothing started (its ``--dir`` is never made: no certificates, no
SuperLink, no SuperNode). The form refuses the same values with the same words.
"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from colearn_nb.protocol.class_settings import check_class_settings

ROOT = Path(__file__).resolve().parents[1]
HOST = ["host", "--learners", "3", "--rounds", "2", "--address", "127.0.0.1"]
TOKEN = "K7Q2-PX9M-3F2A-9C4B-7E5D"


def run_command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m colearn_nb ARGS --dir tmp_path/dir``, as a teacher or a participant types it."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "colearn_nb", *args, "--dir", str(tmp_path / "dir")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def assert_refused_before_starting(done: subprocess.CompletedProcess, message: str, tmp_path: Path) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("python -m colearn_nb: error: ") and message in last_line, done.stderr
    assert "Traceback" not in done.stderr and "join" not in done.stdout, (done.stdout, done.stderr)
    assert not (tmp_path / "dir").exists(), "something was started: the class's folder was made"


@pytest.mark.parametrize("wrong, message", [
    (["--rounds", "-1"], "--rounds: got -1; expected an integer in [1, 1000]"),
    (["--threshold", "1.5"], "--threshold: got 1.5; expected a number in [0, 1], e.g. 0.5"),
    (["--learners", "0"], "--learners: got 0; expected an integer in [2, 500]: a class needs at least 2"),
    (["--port", "70000"], "--port: got 70000; expected an integer in [1, 65535]"),
    (["--deadline", "0"], "--deadline: got 0.0; expected a number in (0, 3600]"),
    (["--deadline", "nan"], "--deadline: got nan; expected a number"),
    (["--address", "192.168.1.20:9093"], "--address: got '192.168.1.20:9093'; expected an IPv4 address"),
    (["--address", "198.51.100.7"], "--address: got '198.51.100.7', not an address of this machine"),
    (["--results", "no_such_folder/results.json"], "--results: got 'no_such_folder/results.json'; expected"),
    (["--app", "my_learners"], "--app: got 'my_learners'; expected 'module:attribute'"),
])
def test_host_refuses_a_wrong_setting_before_starting(tmp_path, wrong, message):
    assert_refused_before_starting(run_command(tmp_path, *HOST, *wrong), message, tmp_path)


def test_host_refuses_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = run_command(tmp_path, *HOST, "--port", port)
    assert_refused_before_starting(done, f"--port: {port} is in use on 127.0.0.1", tmp_path)


@pytest.mark.parametrize("wrong, message", [
    (["192.168.1.20:abc", TOKEN], "address: got '192.168.1.20:abc'; expected HOST or HOST:PORT"),
    (["192.168.1.20", "K7Q2-PX9M"], "token: got 'K7Q2-PX9M' (8 letters); expected the join line's last part"),
    (["192.168.1.20", "K7Q2-PX9M-3F2A-9C0B-7E5D"], "(no 0, 1, I or O; not 0)"),
    (["192.168.1.20"], "token: missing; copy the whole join line"),
    (["192.168.1.20", TOKEN, "--code", "K7Q2PX9M"], "token: give the join line's token, or --code"),
    (["192.168.1.20", "--code", "K7Q2PX9M", "--ca-sha256", "12ab"], "--ca-sha256: got '12ab'; expected"),
    (["192.168.1.20", TOKEN, "--app", "nope"], "--app: got 'nope'; expected 'module:attribute'"),
    (["192.168.1.20", TOKEN, "--name", " "], "--name: empty; give the name the teacher sees"),
])
def test_join_refuses_a_wrong_setting_before_starting(tmp_path, wrong, message):
    assert_refused_before_starting(run_command(tmp_path, "join", *wrong), message, tmp_path)


@pytest.mark.parametrize("setting, value, message", [
    ("n_rounds", -1, "n_rounds: got -1; expected an integer in [1, 1000]"),
    ("vote_threshold", 1.5, "vote_threshold: got 1.5; expected a number in [0, 1], e.g. 0.5"),
    ("n_learners", 0, "n_learners: got 0; expected an integer in [2, 500]"),
    ("address", "192.168.1.20:9093", "address: got '192.168.1.20:9093'; expected an IPv4 address"),
])
def test_the_form_and_the_command_share_their_checks(setting, value, message):
    """The projector's form calls the same function with its own names (its own test opens the form)."""
    settings = {"address": "192.168.1.20", "port": 9093, "n_learners": 3, "n_rounds": 10,
                "vote_threshold": 0.5, "round_deadline": 30.0}
    with pytest.raises(ValueError) as refused:
        check_class_settings({**settings, setting: value})
    assert str(refused.value).startswith(message), refused.value
