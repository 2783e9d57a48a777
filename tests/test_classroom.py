"""A class across hosts: the teacher's ``host`` and three laptops' ``join`` in network namespaces.

The real commands, each host a namespace on one bridge (198.18.0.0/24, no route elsewhere). Three
participants join and nobody leaves; the teacher types controls at the host: learner 2 proposes garbage
(before the rounds), then a threshold of 0.6 (after round 0). The garbage round is voted down by the others
and the run goes on; its results equal the in-process run on the same partitions with notebook 09's
``RandomWeightsProposer`` in learner 2's round and each round's threshold. Every namespace is removed at
the end. A stranger, a dropout and a laptop that rejoins are tested in the class of 8
(tests/test_classroom_of_8.py), which imports ``wait_for``, ``CLASSROOM`` and ``JOIN_LINE`` from here.
"""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("flwr")
sys.path.insert(0, str(Path(__file__).parent))
from controlled_rounds import recorded_script, rounds_under  # noqa: E402
from netns import Room, namespaces_unavailable  # noqa: E402

from colearn_nb import Results  # noqa: E402
from colearn_nb.flower import MnistLearnerFactory  # noqa: E402
from colearn_nb.protocol.class_settings import DEFAULT_DEADLINE_S  # noqa: E402
from colearn_nb.pytorch.seeding import seed_everything  # noqa: E402

pytestmark = pytest.mark.skipif(namespaces_unavailable() is not None,
                                reason=f"no network namespaces here: {namespaces_unavailable()}")
N_LEARNERS, N_ROUNDS, PORT, DEADLINE_S = 3, 3, 9093, DEFAULT_DEADLINE_S
CLASSROOM = [sys.executable, "-m", "colearn_nb.classroom"]
JOIN_LINE = r"^python -m colearn_nb join .*$"


def wait_for(log: Path, pattern: str, timeout: float, process: subprocess.Popen | None = None) -> re.Match:
    """The first match of ``pattern`` in ``log`` within ``timeout`` s (failing early if ``process`` ends)."""
    deadline = time.monotonic() + timeout
    while True:  # looked at once at least, even with no time left
        text = log.read_text(errors="replace") if log.exists() else ""
        if match := re.search(pattern, text, re.MULTILINE):
            return match
        if process is not None and process.poll() is not None:
            pytest.fail(f"{process.args[3:6]} ended ({process.returncode}) before {pattern!r}:\n"
                        f"{text[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {pattern!r} in {log} within {timeout:.0f} s:\n{text[-3000:]}")
        time.sleep(0.2)


def host_command(teacher: str, work: Path) -> list[str]:
    """The teacher's one command, its files under ``work``."""
    return [*CLASSROOM, "host", "--learners", str(N_LEARNERS), "--rounds", str(N_ROUNDS), "--address",
            teacher, "--port", str(PORT), "--deadline", str(DEADLINE_S), "--dir", str(work / "host"),
            "--results", str(work / "results.json")]


def join_all(room: Room, work: Path, join: list[str]) -> dict[int, str]:
    """Every laptop runs the join line; which laptop holds which learner (handed out as laptops come)."""
    joins = {i: room.run(f"laptop{i}", [*CLASSROOM, *join, "--dir", str(work / f"laptop{i}")],
                         work / f"laptop{i}.log") for i in range(N_LEARNERS)}
    return {int(wait_for(work / f"laptop{i}.log", rf"joined as learner (\d) of {N_LEARNERS}", 120,
                         process).group(1)): f"laptop{i}" for i, process in joins.items()}


def type_at(host: subprocess.Popen, line: str) -> None:
    """The teacher types ``line`` and Enter at the host."""
    host.stdin.write(f"{line}\n".encode())
    host.stdin.flush()


def whole_class(room: Room, work: Path, teacher: str) -> tuple[Results, dict[str, str]]:
    """A class with nobody leaving, under the teacher's typed controls, to the end; its results and logs."""
    host = room.run("teacher", host_command(teacher, work), work / "host.log", stdin=subprocess.PIPE)
    join = wait_for(work / "host.log", JOIN_LINE, 180, host).group(0).split()[3:]
    type_at(host, "attack 2 garbage")  # before anyone joined: from round 0 on
    learner_on = join_all(room, work, join)
    wait_for(work / "host.log", r"^round 0: ", 300, host)
    type_at(host, "threshold 0.6")  # from the next round to begin: 1 or 2
    host.wait(timeout=400)
    assert host.returncode == 0, (work / "host.log").read_text()[-3000:]
    for i in range(N_LEARNERS):
        room.kill_host(f"laptop{i}")  # the class is over: its laptops' SuperNodes go too
    logs = {"host": (work / "host.log").read_text(errors="replace"),
            "learner 2": (work / f"{learner_on[2]}.log").read_text(errors="replace")}
    return Results.load(work / "results.json"), logs


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """The class, run once in one room of four hosts; its results, logs and the namespaces left."""
    work = tmp_path_factory.mktemp("classroom")
    with Room() as room:
        teacher = room.add("teacher")
        for i in range(N_LEARNERS):
            room.add(f"laptop{i}")
        seen = dict(zip(("results", "logs"), whole_class(room, work, teacher), strict=True))
        made = [namespace for namespace, _ in room.hosts.values()] + [room.switch]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    seen["namespaces_left"] = [namespace for namespace in made if namespace in listed]
    seen["namespaces_made"] = made
    return seen


def test_a_class_nobody_leaves_under_the_teachers_controls_equals_the_in_process_run(classroom):
    results, logs = classroom["results"], classroom["logs"]
    script = recorded_script(results)
    assert [c.attacks for c in script] == [{2: "garbage"}] * N_ROUNDS, logs["host"][-2000:]
    thresholds = [controls.vote_threshold for controls in script]
    assert thresholds[0] == 0.5 and thresholds[-1] == 0.6 and thresholds in ([0.5, 0.6, 0.6], [0.5, 0.5, 0.6])
    factory = MnistLearnerFactory(n_learners=N_LEARNERS)
    seed_everything(factory.seed)
    reference = rounds_under([factory(i) for i in range(N_LEARNERS)], script)
    assert results == reference, json.dumps(results.to_dict()["data"])[:2000]
    garbage = results.data[3]  # round 2, learner 2's
    assert garbage.block_proposer == 2 and garbage.votes == [False, False, None] and not garbage.vote
    assert re.search(r"^from the next round: threshold 0.5; learner 2 proposes garbage$", logs["host"], re.M)
    assert re.search(r"^round 2: learner 2 proposed garbage \(the teacher's attack\), rejected \(0 of 2 yes, "
                     r"threshold 0.6\); shared model", logs["host"], re.M), logs["host"][-2000:]
    assert re.search(r"^round 2: proposed garbage weights, as the teacher told this laptop",
                     logs["learner 2"], re.M), logs["learner 2"][-2000:]


def test_every_namespace_is_removed_after_the_class(classroom):
    assert len(classroom["namespaces_made"]) == N_LEARNERS + 2  # the teacher, the laptops, the bridge
    assert classroom["namespaces_left"] == []
