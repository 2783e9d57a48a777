"""A class across hosts: the teacher's ``host`` and three laptops' ``join`` in network namespaces.

Two classes of the real commands, each host a namespace on one bridge (198.18.0.0/24, no route
elsewhere). In the first, three participants join and nobody leaves; the teacher types controls at the host:
learner 2 proposes garbage (before the rounds), then a threshold of 0.6 (after round 0). The garbage round
is voted down by the others and the run goes on; its results equal the in-process run on the same
partitions with notebook 09's ``RandomWeightsProposer`` in learner 2's round and each round's threshold.
In the second, a stranger without the code is refused and reaches no Flower
API but the Fleet API; three participants join, learner 2's laptop is killed after round 1 (every process
on it, by id), recorded as missing, rejoins with the same command and votes again; the rounds before it
left equal the in-process run. Every namespace and process is removed at the end.
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

from colearn_nb import Results, run_rounds  # noqa: E402
from colearn_nb.flower import MnistLearnerFactory  # noqa: E402
from colearn_nb.protocol.class_settings import DEFAULT_DEADLINE_S  # noqa: E402
from colearn_nb.pytorch.seeding import seed_everything  # noqa: E402

pytestmark = pytest.mark.skipif(namespaces_unavailable() is not None,
                                reason=f"no network namespaces here: {namespaces_unavailable()}")
N_LEARNERS, N_ROUNDS, N_CLEAN_ROUNDS, PORT, DEADLINE_S = 3, 9, 3, 9093, DEFAULT_DEADLINE_S
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


def in_namespace(room: Room, name: str, code: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` on host ``name``."""
    return subprocess.run(["ip", "netns", "exec", room.hosts[name][0], sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60)


def listening_sockets(room: Room, name: str) -> list[str]:
    """The local addresses of TCP sockets listening on host ``name``."""
    done = subprocess.run(["ip", "netns", "exec", room.hosts[name][0], "ss", "-ltnH"], capture_output=True,
                          text=True, timeout=30)
    return [line.split()[3] for line in done.stdout.splitlines() if line.strip()]


def host_command(teacher: str, n_rounds: int, work: Path) -> list[str]:
    """The teacher's one command, its files under ``work``."""
    return [*CLASSROOM, "host", "--learners", str(N_LEARNERS), "--rounds", str(n_rounds), "--address",
            teacher, "--port", str(PORT), "--deadline", str(DEADLINE_S), "--dir", str(work / "host"),
            "--results", str(work / "results.json")]


def join_all(room: Room, work: Path, join: list[str]) -> dict[int, str]:
    """Every laptop runs the join line; which laptop holds which learner (handed out as laptops come)."""
    joins = {i: room.run(f"laptop{i}", [*CLASSROOM, *join, "--dir", str(work / f"laptop{i}")],
                         work / f"laptop{i}.log") for i in range(N_LEARNERS)}
    return {int(wait_for(work / f"laptop{i}.log", r"joined as learner (\d) of 3", 120, process).group(1)):
            f"laptop{i}" for i, process in joins.items()}


def type_at(host: subprocess.Popen, line: str) -> None:
    """The teacher types ``line`` and Enter at the host."""
    host.stdin.write(f"{line}\n".encode())
    host.stdin.flush()


def whole_class(room: Room, work: Path, teacher: str) -> tuple[Results, dict[str, str]]:
    """A class with nobody leaving, under the teacher's typed controls, to the end; its results and logs."""
    work.mkdir()
    host = room.run("teacher", host_command(teacher, N_CLEAN_ROUNDS, work), work / "host.log",
                    stdin=subprocess.PIPE)
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


def class_with_a_dropout(room: Room, work: Path, teacher: str, seen: dict) -> None:
    """A stranger tries the wrong code; learner 2's laptop is killed after round 1, then rejoins."""
    host = room.run("teacher", host_command(teacher, N_ROUNDS, work), work / "host.log",
                    stdin=subprocess.PIPE)
    join_line = wait_for(work / "host.log", JOIN_LINE, 180, host).group(0)
    seen["join_line"] = join_line
    seen.update(stranger_checks(room, work, join_line, teacher))
    join = join_line.split()[3:]
    learner_on = join_all(room, work, join)
    wait_for(work / "host.log", r"^round 1: ", 300, host)
    seen["killed"] = room.kill_host(learner_on[2])  # a laptop gone: all its processes at once
    # a connected laptop is waited for up to the deadline (120 s); a killed one is missing once Flower misses
    # two of its heartbeats (30 s apart): within a minute and a round
    wait_for(work / "host.log", r"learner 2 \(SuperNode \d+\) missing in round", 180, host)
    rejoin = room.run(learner_on[2], [*CLASSROOM, *join, "--dir", str(work / learner_on[2])],
                      work / "rejoin.log")
    wait_for(work / "rejoin.log", r"joined as learner 2 of 3", 120, rejoin)
    host.wait(timeout=600)
    seen["host_returncode"] = host.returncode


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """Both classes, run once in one room; what the tests look at."""
    work = tmp_path_factory.mktemp("classroom")
    with Room() as room:
        teacher = room.add("teacher")
        laptops = [room.add(f"laptop{i}") for i in range(N_LEARNERS)]
        room.add("stranger")
        seen = {"addresses": (teacher, laptops)}
        seen["whole_class"], seen["whole_class_logs"] = whole_class(room, work / "whole", teacher)
        class_with_a_dropout(room, work, teacher, seen)
        made = [namespace for namespace, _ in room.hosts.values()] + [room.switch]
    seen["results"] = Results.load(work / "results.json")
    seen["logs"] = {log.stem: log.read_text(errors="replace") for log in work.glob("*.log")}
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    seen["namespaces_left"] = [namespace for namespace in made if namespace in listed]
    return seen


def stranger_checks(room: Room, work: Path, join_line: str, teacher: str) -> dict:
    """From a host with no code: the join refused, the Control API not served, only one port open."""
    wrong = join_line.split()[3:]
    wrong[2] = "AAAA-AAAA" + wrong[2][9:]  # the token with another code, the right fingerprint
    refused = room.run("stranger", [*CLASSROOM, *wrong, "--dir", str(work / "stranger")],
                       work / "stranger.log")
    refused.wait(timeout=120)
    control = in_namespace(room, "stranger", (
        "import ssl, urllib.request, urllib.error\n"
        "c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE\n"
        "for path in ('/v1/control/list-runs', '/v1/control/start-run', '/health'):\n"
        f"    r = urllib.request.Request('https://{teacher}:{PORT}' + path, data=b'{{}}', method='POST')\n"
        "    try: print(urllib.request.urlopen(r, context=c, timeout=10).status)\n"
        "    except urllib.error.HTTPError as e: print(e.code)\n"))
    return {"stranger_returncode": refused.returncode, "control_statuses": control.stdout.split(),
            "control_stderr": control.stderr, "teacher_listening": listening_sockets(room, "teacher")}


def in_process_results(n_rounds: int) -> Results:
    """The reference: the same partitions driven by the in-process round functions."""
    factory = MnistLearnerFactory(n_learners=N_LEARNERS)
    seed_everything(factory.seed)
    return run_rounds([factory(i) for i in range(N_LEARNERS)], n_rounds, vote_threshold=0.5)


def test_a_stranger_without_the_code_is_refused_and_reaches_only_the_fleet_api(classroom):
    assert classroom["stranger_returncode"] != 0
    assert "wrong join code" in classroom["logs"]["stranger"]
    assert classroom["control_statuses"] == ["404", "404", "404"], classroom["control_stderr"]
    teacher = classroom["addresses"][0]
    exposed = [a for a in classroom["teacher_listening"] if not a.startswith(("127.0.0.1:", "[::1]:"))]
    assert exposed == [f"{teacher}:{PORT}"], classroom["teacher_listening"]


def test_the_class_runs_to_the_end_with_one_line_to_copy(classroom):
    assert classroom["host_returncode"] == 0, classroom["logs"]["host"][-3000:]
    host_log = classroom["logs"]["host"]
    joined = re.findall(r"^learner (\d) joined \((.+)\); (\d) of 3 in$", host_log, re.MULTILINE)
    assert sorted(learner for learner, _, _ in joined) == ["0", "1", "2"], classroom["logs"]["host"][-3000:]
    assert [count for _, _, count in joined] == ["1", "2", "3"]
    assert re.fullmatch(r"python -m colearn_nb join [\d.]+ [A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){4}",
                        classroom["join_line"]), classroom["join_line"]
    assert len(classroom["join_line"]) <= 62, "a line a room types in half a minute"
    assert len(classroom["results"].data) == N_ROUNDS + 1
    assert classroom["namespaces_left"] == []


def test_a_class_nobody_leaves_under_the_teachers_controls_equals_the_in_process_run(classroom):
    results, logs = classroom["whole_class"], classroom["whole_class_logs"]
    script = recorded_script(results)
    assert [c.attacks for c in script] == [{2: "garbage"}] * N_CLEAN_ROUNDS, logs["host"][-2000:]
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


def test_rounds_before_the_dropout_equal_the_in_process_run(classroom):
    results, reference = classroom["results"], in_process_results(2)
    assert results.data[:3] == reference.data, json.dumps(results.to_dict()["data"][:3])[:2000]


def test_the_killed_laptop_is_recorded_missing_then_rejoins_and_votes_again(classroom):
    assert classroom["killed"], "the laptop had processes to kill"
    rounds = classroom["results"].data[1:]
    missing = [round_index for round_index, result in enumerate(rounds) if 2 in result.missing]
    assert missing and min(missing) >= 2, missing
    back = [r for r in rounds[max(missing) + 1:] if r.block_proposer != 2]
    assert back and all(r.votes[2] is not None and 2 not in r.missing for r in back), rounds
    assert "round " in classroom["logs"]["rejoin"] and " voted " in classroom["logs"]["rejoin"]
