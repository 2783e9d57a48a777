"""A class of 8 across hosts: the teacher's ``host`` and eight laptops' ``join``, each in a network namespace.

The README's real commands, each host a namespace on one bridge (198.18.0.0/24, no route elsewhere; see
tests/netns.py). The laptops run the join line a second apart, as in a room; all eight are admitted, learners
0 to 7. After round 0 two laptops are killed, every process on each at once (a closed lid): learner 2, the
proposer of the last round, and learner 5, a voter. The class goes on to its last round; the results and the
host's lines say that both were missing in rounds 1 and 2, and nobody else in any round; learner 2's round is
rejected. Neither the host nor a laptop still in the class shows a traceback, nor do their Flower processes'
logs. When the class is over the teacher's namespace holds no process, each remaining laptop leaves with
Ctrl-C and its namespace empties; every namespace is removed. The whole class is bounded by ``BUDGET_S``
(about 3 minutes on a quiet 2-core machine: round 1 waits about 45 s for Flower to miss the killed laptops'
heartbeats). The class of 16 stays in the benchmark (benchmarks/classroom_rounds.py --laptops 16).

    COLEARN_NB_CLASS_OF_8=1 .venv/bin/python -m pytest tests/test_classroom_of_8.py
"""
import math
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
from netns import Room, namespaces_unavailable  # noqa: E402
from test_classroom import wait_for  # noqa: E402

from colearn_nb import Results  # noqa: E402
from colearn_nb.protocol.class_settings import DEFAULT_DEADLINE_S  # noqa: E402

pytestmark = [
    pytest.mark.skipif(namespaces_unavailable() is not None,
                       reason=f"no network namespaces here: {namespaces_unavailable()}"),
    # about 130 s: with it the whole suite took 20 min 19 s, over its 20 min; run it on its own
    pytest.mark.skipif(os.environ.get("COLEARN_NB_CLASS_OF_8") != "1",
                       reason="the class of 8 runs with COLEARN_NB_CLASS_OF_8=1 (about 2 to 3 minutes)"),
]
N_LAPTOPS, N_ROUNDS, PORT, DEADLINE_S = 8, 3, 9093, DEFAULT_DEADLINE_S
KILLED = (2, 5)  # the learners whose laptops close their lids after round 0: round 2's proposer, a voter
BUDGET_S = 480.0  # first namespace to last emptied: 150 to 180 s measured, 2 busy loops beside or not
CLASSROOM = [sys.executable, "-m", "colearn_nb.classroom"]
JOIN_LINE = r"^python -m colearn_nb join .*$"


class Budget:
    """One deadline for the whole class: each wait gets the time left, at most its own limit."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, limit: float) -> float:
        return max(0.0, min(limit, self.end - time.monotonic()))


def wait_until_empty(room: Room, names: list[str], timeout: float) -> dict[str, list[str]]:
    """Wait until no process runs on hosts ``names``; the command lines of those still running then."""
    deadline = time.monotonic() + timeout
    while True:
        left = {name: room.pids(name) for name in names}
        if not any(left.values()) or time.monotonic() > deadline:
            return {name: [command_line(pid) for pid in pids] for name, pids in left.items() if pids}
        time.sleep(0.5)


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid} (gone)"


def run_class(room: Room, work: Path, teacher: str, budget: Budget) -> dict:
    """The class of 8 to its end, two laptops killed after round 0; what the tests look at."""
    seen: dict = {}
    host = room.run("teacher", [*CLASSROOM, "host", "--learners", str(N_LAPTOPS), "--rounds", str(N_ROUNDS),
                                "--address", teacher, "--port", str(PORT), "--deadline", str(DEADLINE_S),
                                "--dir", str(work / "host"), "--results", str(work / "results.json")],
                    work / "host.log", stdin=subprocess.DEVNULL)
    join = wait_for(work / "host.log", JOIN_LINE, budget.left(180), host).group(0).split()[3:]
    laptops = {}
    for i in range(N_LAPTOPS):  # a room: laptops join a second apart
        laptops[f"laptop{i}"] = room.run(f"laptop{i}", [*CLASSROOM, *join, "--dir", str(work / f"laptop{i}")],
                                         work / f"laptop{i}.log")
        time.sleep(1.0)
    seen["joined"] = {name: int(wait_for(work / f"{name}.log", rf"^joined as learner (\d+) of {N_LAPTOPS};",
                                         budget.left(300), process).group(1))
                      for name, process in laptops.items()}
    learner_on = {learner: name for name, learner in seen["joined"].items()}
    wait_for(work / "host.log", r"^round 0: ", budget.left(300), host)
    seen["killed"] = {learner: room.kill_host(learner_on[learner]) for learner in KILLED}  # lids closed
    seen["killed_left"] = wait_until_empty(room, [learner_on[learner] for learner in KILLED], 10)
    try:
        host.wait(timeout=budget.left(400))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the class did not end within its budget:\n{(work / 'host.log').read_text()[-3000:]}")
    seen["host_returncode"] = host.returncode
    seen["teacher_left"] = wait_until_empty(room, ["teacher"], budget.left(30))  # the host's processes ended
    staying = [name for learner, name in sorted(learner_on.items()) if learner not in KILLED]
    for name in staying:  # each student leaves with Ctrl-C: the terminal signals join's process group
        os.killpg(laptops[name].pid, signal.SIGINT)
    seen["join_returncodes"] = {name: laptops[name].wait(timeout=budget.left(60)) for name in staying}
    seen["laptops_left"] = wait_until_empty(room, staying, budget.left(30))
    seen["staying"] = staying
    seen["learner_on"] = learner_on
    return seen


@pytest.fixture(scope="module")
def class_of_8(tmp_path_factory):
    """The class, run once in one room of nine hosts; its results, logs and what was left running."""
    work = tmp_path_factory.mktemp("class_of_8")
    started = time.monotonic()
    with Room() as room:
        teacher = room.add("teacher")
        for i in range(N_LAPTOPS):
            room.add(f"laptop{i}")
        made = [namespace for namespace, _ in room.hosts.values()] + [room.switch]
        seen = run_class(room, work, teacher, Budget(BUDGET_S))
    seen["seconds"] = time.monotonic() - started
    print(f"class of {N_LAPTOPS}: {seen['seconds']:.0f} s from the first namespace to the last removed")
    seen["results"] = Results.load(work / "results.json")
    seen["logs"] = {log.stem: log.read_text(errors="replace") for log in work.glob("*.log")}
    seen["flower_logs"] = {str(log.relative_to(work)): log.read_text(errors="replace")
                           for name in ["host", *seen["staying"]] for log in (work / name).rglob("*.log")}
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    seen["namespaces_left"] = [namespace for namespace in made if namespace in listed]
    return seen


def test_all_eight_laptops_are_admitted_as_learners_0_to_7(class_of_8):
    assert sorted(class_of_8["joined"].values()) == list(range(N_LAPTOPS)), class_of_8["joined"]
    host_log = class_of_8["logs"]["host"]
    joined = re.findall(rf"^learner (\d+) joined \((.+)\); (\d+) of {N_LAPTOPS} in$", host_log, re.MULTILINE)
    assert sorted(int(learner) for learner, _, _ in joined) == list(range(N_LAPTOPS)), host_log[-3000:]
    assert [int(count) for _, _, count in joined] == list(range(1, N_LAPTOPS + 1)), host_log[-3000:]
    assert re.search(rf"^{N_LAPTOPS} learners in; {N_ROUNDS} rounds ", host_log, re.M), host_log[-3000:]
    assert all(len(result.votes) == N_LAPTOPS for result in class_of_8["results"].data[1:])


def test_the_class_goes_on_to_its_end_after_two_laptops_are_killed(class_of_8):
    assert all(class_of_8["killed"].values()), "each killed laptop had processes to kill"
    assert class_of_8["killed_left"] == {}, class_of_8["killed_left"]
    assert class_of_8["host_returncode"] == 0, class_of_8["logs"]["host"][-3000:]
    results = class_of_8["results"]
    assert len(results.data) == N_ROUNDS + 1
    assert re.search(r"^results in .+results\.json: ", class_of_8["logs"]["host"], re.MULTILINE)


def test_the_results_say_who_was_missing_in_which_round(class_of_8):
    rounds = class_of_8["results"].data[1:]
    assert {round_index: result.missing for round_index, result in enumerate(rounds)} == \
        {0: [], 1: list(KILLED), 2: list(KILLED)}, [(r.missing, r.errors) for r in rounds]
    host_log = class_of_8["logs"]["host"]
    for round_index, result in enumerate(rounds):
        for learner in result.missing:
            reason = rf"learner {learner} \(SuperNode \d+\) missing in round {round_index}: "
            assert any(re.match(reason, error) for error in result.errors), result.errors
            assert re.search(rf"^round {round_index}: .*; {reason}", host_log, re.MULTILINE), host_log[-3000:]
            assert result.votes[learner] is (None if learner == result.block_proposer else False)  # abstained
            assert math.isnan(result.vote_scores[learner]), result.vote_scores
    last = rounds[2]  # learner 2's round: its proposer gone, nobody asked to vote, rejected, nobody changed
    assert last.block_proposer == 2 and not last.vote and not any(last.votes), last
    assert class_of_8["results"].shared_model_scores[3] == class_of_8["results"].shared_model_scores[2]
    assert all(vote is not None for learner, vote in enumerate(rounds[0].votes) if learner != 0), rounds[0]
    assert all(vote is not None for learner, vote in enumerate(rounds[1].votes)
               if learner not in (1, *KILLED)), rounds[1]


def test_no_traceback_on_the_host_or_the_laptops_that_stayed(class_of_8):
    logs = class_of_8["logs"]
    assert "Traceback" not in logs["host"], logs["host"][-3000:]
    for name in class_of_8["staying"]:
        assert "Traceback" not in logs[name], logs[name][-3000:]
        assert re.search(r"^round 1: (voted|proposed) ", logs[name], re.MULTILINE), logs[name][-2000:]
        assert re.search(r"^join: left the class \(SIGINT\); this laptop's SuperNode and worker have ended$",
                         logs[name], re.MULTILINE), logs[name][-2000:]
    assert len(class_of_8["flower_logs"]) >= 2 * len(class_of_8["staying"]), sorted(class_of_8["flower_logs"])
    for path, text in class_of_8["flower_logs"].items():  # SuperLink, ServerApp, SuperNodes, workers
        assert "Traceback" not in text, f"{path}:\n{text[-3000:]}"


def test_nothing_is_left_running_and_every_namespace_is_removed(class_of_8):
    assert class_of_8["teacher_left"] == {}, class_of_8["teacher_left"]
    assert class_of_8["laptops_left"] == {}, class_of_8["laptops_left"]
    returncodes = class_of_8["join_returncodes"]
    assert set(returncodes.values()) == {128 + signal.SIGINT}, returncodes
    assert class_of_8["namespaces_left"] == []
