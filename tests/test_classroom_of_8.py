"""A class of 8 across hosts: the teacher's ``host``, eight laptops' ``join`` and a stranger, in namespaces.

The README's real commands, each host a namespace on one bridge (198.18.0.0/24, no route elsewhere; see
tests/netns.py). A stranger with the join line but another code is refused, and from its host no Flower API
but the Fleet API answers: the teacher's host listens on one port only. The laptops run the join line a
second apart, as in a room; all eight are admitted, learners 0 to 7, and round 0 equals the in-process run
on the same partitions. After round 0 two laptops are killed, every process on each at once (a closed lid):
learner 2, the proposer of round 2, stays away; learner 7, a voter, is recorded missing, then its laptop runs
the same join line again, rejoins as learner 7 and votes in every round from its return to the last. The
class goes on to its last round; the results and the host's lines say who was missing in which round
(learner 2 from round 1 on, learner 7 from round 1 until it was back, nobody else); learner 2's round is
rejected. Neither the host nor a laptop in the class at its end shows a traceback, nor do their Flower
processes' logs. When the class is over the teacher's namespace holds no process, each laptop still in the
class leaves with Ctrl-C and its namespace empties; every namespace is removed. The whole class is bounded by
``BUDGET_S``: round 1 waits about 50 s for Flower to miss the killed laptops' heartbeats; learner 7's laptop
runs join again as soon as the host says it was missing, and has rounds 3 to 5 (8 to 10 s each on a 2-core
machine, two busy loops beside or not; round 2 is over at once, its proposer gone) to be back before the last
round: it was back in round 4, its SuperNode taken within 9 s. The stranger, the rounds before a dropout and
a laptop that rejoins were a second class of three in tests/test_classroom.py: one class of 8 now tests them.
The class of 16 stays in the benchmark (benchmarks/classroom_rounds.py --laptops 16).
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
from test_classroom import CLASSROOM, JOIN_LINE, wait_for  # noqa: E402

from colearn_nb import Results, run_rounds  # noqa: E402
from colearn_nb.flower import MnistLearnerFactory  # noqa: E402
from colearn_nb.protocol.class_settings import DEFAULT_DEADLINE_S  # noqa: E402
from colearn_nb.pytorch.seeding import seed_everything  # noqa: E402

pytestmark = pytest.mark.skipif(namespaces_unavailable() is not None,
                                reason=f"no network namespaces here: {namespaces_unavailable()}")
N_LAPTOPS, N_ROUNDS, PORT, DEADLINE_S = 8, 7, 9093, DEFAULT_DEADLINE_S
STAYS_AWAY, REJOINS = 2, 7  # the learners whose laptops close their lids after round 0: round 2's proposer,
KILLED = (STAYS_AWAY, REJOINS)  # and a voter that never proposes in 7 rounds, so it votes in each it is back
BUDGET_S = 480.0  # first namespace to last emptied: 137 s measured, 176 s with 2 busy loops beside
ROOM_ORDER = ["teacher", *(f"laptop{i}" for i in range(N_LAPTOPS)), "stranger"]


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


def in_namespace(room: Room, name: str, code: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` on host ``name``."""
    return subprocess.run(["ip", "netns", "exec", room.hosts[name][0], sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=60)


def listening_sockets(room: Room, name: str) -> list[str]:
    """The local addresses of TCP sockets listening on host ``name``."""
    done = subprocess.run(["ip", "netns", "exec", room.hosts[name][0], "ss", "-ltnH"], capture_output=True,
                          text=True, timeout=30)
    return [line.split()[3] for line in done.stdout.splitlines() if line.strip()]


def control_api_statuses(room: Room, teacher: str) -> subprocess.CompletedProcess:
    """From the stranger's host: the HTTP status of Flower's Control API paths at the teacher's port."""
    return in_namespace(room, "stranger", (
        "import ssl, urllib.request, urllib.error\n"
        "c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE\n"
        "for path in ('/v1/control/list-runs', '/v1/control/start-run', '/health'):\n"
        f"    r = urllib.request.Request('https://{teacher}:{PORT}' + path, data=b'{{}}', method='POST')\n"
        "    try: print(urllib.request.urlopen(r, context=c, timeout=10).status)\n"
        "    except urllib.error.HTTPError as e: print(e.code)\n"))


def stranger_checks(room: Room, work: Path, join_line: str, teacher: str, budget: Budget) -> dict:
    """From a host with no code: the join refused, the Control API not served, only one port open."""
    wrong = join_line.split()[3:]
    wrong[2] = "AAAA-AAAA" + wrong[2][9:]  # the token with another code, the right fingerprint
    refused = room.run("stranger", [*CLASSROOM, *wrong, "--dir", str(work / "stranger")],
                       work / "stranger.log")
    refused.wait(timeout=budget.left(120))
    control = control_api_statuses(room, teacher)
    return {"stranger_returncode": refused.returncode, "control_statuses": control.stdout.split(),
            "control_stderr": control.stderr, "teacher_listening": listening_sockets(room, "teacher")}


def start_host(room: Room, work: Path, teacher: str, budget: Budget) -> tuple[subprocess.Popen, str]:
    """The teacher's one command; it and the join line it shows."""
    host = room.run("teacher", [*CLASSROOM, "host", "--learners", str(N_LAPTOPS), "--rounds", str(N_ROUNDS),
                                "--address", teacher, "--port", str(PORT), "--deadline", str(DEADLINE_S),
                                "--dir", str(work / "host"), "--results", str(work / "results.json")],
                    work / "host.log", stdin=subprocess.DEVNULL)
    return host, wait_for(work / "host.log", JOIN_LINE, budget.left(180), host).group(0)


def join_laptops(room: Room, work: Path, join: list[str]) -> dict[str, subprocess.Popen]:
    """Each laptop runs the join line, a second after the one before, as in a room."""
    laptops = {}
    for i in range(N_LAPTOPS):
        laptops[f"laptop{i}"] = room.run(f"laptop{i}", [*CLASSROOM, *join, "--dir", str(work / f"laptop{i}")],
                                         work / f"laptop{i}.log")
        time.sleep(1.0)
    return laptops


def learners_joined(work: Path, laptops: dict[str, subprocess.Popen], budget: Budget) -> dict[str, int]:
    """Which learner each laptop was admitted as, from its own output."""
    return {name: int(wait_for(work / f"{name}.log", rf"^joined as learner (\d+) of {N_LAPTOPS};",
                               budget.left(300), process).group(1)) for name, process in laptops.items()}


def close_lids_then_rejoin(room: Room, work: Path, join: list[str], learner_on: dict[int, str],
                           host: subprocess.Popen, budget: Budget) -> dict:
    """Two laptops killed after round 0; learner 7's runs join again once the host says it is missing."""
    wait_for(work / "host.log", r"^round 0: ", budget.left(300), host)
    seen = {"killed": {learner: room.kill_host(learner_on[learner]) for learner in KILLED}}  # lids closed
    seen["killed_left"] = wait_until_empty(room, [learner_on[learner] for learner in KILLED], 10)
    # missing once Flower misses two of its heartbeats (30 s apart): within a minute, in round 1
    wait_for(work / "host.log", rf"learner {REJOINS} \(SuperNode \d+\) missing in round", budget.left(180),
             host)
    name, started = learner_on[REJOINS], time.monotonic()
    seen["rejoin"] = room.run(name, [*CLASSROOM, *join, "--dir", str(work / name)], work / "rejoin.log")
    wait_for(work / "rejoin.log", rf"^joined as learner {REJOINS} of {N_LAPTOPS};", budget.left(120),
             seen["rejoin"])
    print(f"learner {REJOINS}'s laptop joined again {time.monotonic() - started:.0f} s after it ran join")
    return seen


def wait_for_the_end(work: Path, host: subprocess.Popen, budget: Budget) -> int:
    """The host's return code once the class ended, failing if it ran past the budget."""
    try:
        return host.wait(timeout=budget.left(400))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the class did not end within its budget:\n{(work / 'host.log').read_text()[-3000:]}")


def leave_with_ctrl_c(room: Room, joins: dict[str, subprocess.Popen], budget: Budget) -> dict:
    """Each student in the class leaves with Ctrl-C (the terminal signals join's process group)."""
    for process in joins.values():
        os.killpg(process.pid, signal.SIGINT)
    returncodes = {name: process.wait(timeout=budget.left(60)) for name, process in joins.items()}
    return {"join_returncodes": returncodes,
            "laptops_left": wait_until_empty(room, list(joins), budget.left(30))}


def run_class(room: Room, work: Path, teacher: str, budget: Budget) -> dict:
    """The class of 8 to its end: the stranger, two laptops killed after round 0, one of them back."""
    host, join_line = start_host(room, work, teacher, budget)
    seen = {"join_line": join_line, **stranger_checks(room, work, join_line, teacher, budget)}
    join = join_line.split()[3:]
    laptops = join_laptops(room, work, join)
    seen["joined"] = learners_joined(work, laptops, budget)
    learner_on = {learner: name for name, learner in seen["joined"].items()}
    seen.update(close_lids_then_rejoin(room, work, join, learner_on, host, budget))
    seen["host_returncode"] = wait_for_the_end(work, host, budget)
    seen["teacher_left"] = wait_until_empty(room, ["teacher"], budget.left(30))  # the host's processes ended
    in_class = {name: laptops[name] for learner, name in sorted(learner_on.items()) if learner not in KILLED}
    in_class[learner_on[REJOINS]] = seen["rejoin"]
    seen.update(leave_with_ctrl_c(room, in_class, budget))
    seen["in_class"], seen["learner_on"] = list(in_class), learner_on
    return seen


def read_logs(work: Path, seen: dict) -> None:
    """The commands' output and, for the host and each laptop in the class at its end, its Flower logs."""
    seen["results"] = Results.load(work / "results.json")
    seen["logs"] = {log.stem: log.read_text(errors="replace") for log in work.glob("*.log")}
    seen["flower_logs"] = {str(log.relative_to(work)): log.read_text(errors="replace")
                           for name in ["host", *seen["in_class"]] for log in (work / name).rglob("*.log")}


@pytest.fixture(scope="module")
def class_of_8(tmp_path_factory):
    """The class, run once in one room of ten hosts; its results, logs and what was left running."""
    work = tmp_path_factory.mktemp("class_of_8")
    started = time.monotonic()
    with Room() as room:
        seen = {"addresses": {name: room.add(name) for name in ROOM_ORDER}}
        made = [namespace for namespace, _ in room.hosts.values()] + [room.switch]
        seen.update(run_class(room, work, seen["addresses"]["teacher"], Budget(BUDGET_S)))
    seen["seconds"] = time.monotonic() - started
    print(f"class of {N_LAPTOPS}: {seen['seconds']:.0f} s from the first namespace to the last removed")
    read_logs(work, seen)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    seen["namespaces_made"] = made
    seen["namespaces_left"] = [namespace for namespace in made if namespace in listed]
    return seen


def in_process_results(n_learners: int, n_rounds: int) -> Results:
    """The reference: the same partitions driven by the in-process round functions."""
    factory = MnistLearnerFactory(n_learners=n_learners)
    seed_everything(factory.seed)
    return run_rounds([factory(i) for i in range(n_learners)], n_rounds, vote_threshold=0.5)


def round_back(class_of_8) -> int:
    """The first round learner 7 took part in again: the one after the last it was missing from."""
    rounds = class_of_8["results"].data[1:]
    return max((index for index, result in enumerate(rounds) if REJOINS in result.missing), default=-1) + 1


def test_a_stranger_without_the_code_is_refused_and_reaches_only_the_fleet_api(class_of_8):
    assert class_of_8["stranger_returncode"] != 0
    assert "wrong join code" in class_of_8["logs"]["stranger"], class_of_8["logs"]["stranger"]
    stranger = class_of_8["addresses"]["stranger"]
    assert re.search(rf"^join refused: wrong code from Address\(host='{re.escape(stranger)}'",
                     class_of_8["logs"]["host"], re.M), class_of_8["logs"]["host"][-3000:]
    assert class_of_8["control_statuses"] == ["404", "404", "404"], class_of_8["control_stderr"]
    teacher = class_of_8["addresses"]["teacher"]
    exposed = [a for a in class_of_8["teacher_listening"] if not a.startswith(("127.0.0.1:", "[::1]:"))]
    assert exposed == [f"{teacher}:{PORT}"], class_of_8["teacher_listening"]


def test_all_eight_laptops_are_admitted_as_learners_0_to_7(class_of_8):
    assert sorted(class_of_8["joined"].values()) == list(range(N_LAPTOPS)), class_of_8["joined"]
    host_log = class_of_8["logs"]["host"]
    joined = re.findall(rf"^learner (\d+) joined \((.+)\); (\d+) of {N_LAPTOPS} in$", host_log, re.MULTILINE)
    assert sorted(int(learner) for learner, _, _ in joined) == list(range(N_LAPTOPS)), host_log[-3000:]
    assert [int(count) for _, _, count in joined] == list(range(1, N_LAPTOPS + 1)), host_log[-3000:]
    assert re.search(rf"^{N_LAPTOPS} learners in; {N_ROUNDS} rounds ", host_log, re.M), host_log[-3000:]
    assert all(len(result.votes) == N_LAPTOPS for result in class_of_8["results"].data[1:])


def test_the_class_runs_to_the_end_with_one_line_to_copy(class_of_8):
    assert re.fullmatch(r"python -m colearn_nb join [\d.]+ [A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){4}",
                        class_of_8["join_line"]), class_of_8["join_line"]
    assert len(class_of_8["join_line"]) <= 62, "a line a room types in half a minute"
    assert class_of_8["host_returncode"] == 0, class_of_8["logs"]["host"][-3000:]
    assert len(class_of_8["results"].data) == N_ROUNDS + 1
    assert re.search(r"^results in .+results\.json: ", class_of_8["logs"]["host"], re.MULTILINE)


def test_round_0_before_the_dropout_equals_the_in_process_run(class_of_8):
    before = class_of_8["results"].data[:2]  # the start and round 0
    assert before == in_process_results(N_LAPTOPS, 1).data, [str(result) for result in before]


def test_the_class_goes_on_to_its_end_after_two_laptops_are_killed(class_of_8):
    assert all(class_of_8["killed"].values()), "each killed laptop had processes to kill"
    assert class_of_8["killed_left"] == {}, class_of_8["killed_left"]
    rounds = class_of_8["results"].data[1:]
    assert [result.block_proposer for result in rounds] == list(range(N_ROUNDS)), rounds
    for result in rounds:  # everyone in the round voted on the proposal, unless its proposer was gone
        voters = [learner for learner in range(N_LAPTOPS)
                  if learner not in (result.block_proposer, *result.missing)]
        proposer_gone = result.block_proposer in result.missing
        assert all(result.votes[learner] is not None for learner in voters), result
        assert all(math.isnan(result.vote_scores[learner]) == proposer_gone for learner in voters), result


def test_the_results_say_who_was_missing_in_which_round(class_of_8):
    rounds, back = class_of_8["results"].data[1:], round_back(class_of_8)
    assert 2 <= back < N_ROUNDS, [result.missing for result in rounds]  # missing in round 1, back by the last
    after_the_kill = {index: list(KILLED) if index < back else [STAYS_AWAY] for index in range(1, N_ROUNDS)}
    expected = {0: [], **after_the_kill}
    assert {index: result.missing for index, result in enumerate(rounds)} == expected, \
        [(r.missing, r.errors) for r in rounds]
    host_log = class_of_8["logs"]["host"]
    for round_index, result in enumerate(rounds):
        for learner in result.missing:
            reason = rf"learner {learner} \(SuperNode \d+\) missing in round {round_index}: "
            assert any(re.match(reason, error) for error in result.errors), result.errors
            assert re.search(rf"^round {round_index}: .*; {reason}", host_log, re.MULTILINE), host_log[-3000:]
            assert result.votes[learner] is (None if learner == result.block_proposer else False)  # abstained
            assert math.isnan(result.vote_scores[learner]), result.vote_scores
    gone = rounds[STAYS_AWAY]  # learner 2's round: its proposer gone, nobody asked to vote, rejected
    assert gone.block_proposer == STAYS_AWAY and not gone.vote and not any(gone.votes), gone
    scores = class_of_8["results"].shared_model_scores
    assert scores[STAYS_AWAY + 1] == scores[STAYS_AWAY], scores  # nobody changed


def test_the_killed_laptop_is_recorded_missing_then_rejoins_and_votes_again(class_of_8):
    rounds, back = class_of_8["results"].data[1:], round_back(class_of_8)
    rejoin = class_of_8["logs"]["rejoin"]
    assert REJOINS in rounds[1].missing and all(REJOINS not in result.missing for result in rounds[back:])
    votes_after = [index for index in range(back, N_ROUNDS) if index != STAYS_AWAY]  # round 2: no proposal
    assert votes_after and all(not math.isnan(rounds[index].vote_scores[REJOINS]) for index in votes_after)
    assert re.search(rf"^joined as learner {REJOINS} of {N_LAPTOPS};", rejoin, re.M), rejoin
    voted = [int(index) for index in re.findall(r"^round (\d+): voted ", rejoin, re.MULTILINE)]
    assert voted == votes_after, rejoin


def test_no_traceback_on_the_host_or_the_laptops_in_the_class(class_of_8):
    logs, rejoined = class_of_8["logs"], class_of_8["learner_on"][REJOINS]
    assert "Traceback" not in logs["host"], logs["host"][-3000:]
    for name in class_of_8["in_class"]:
        log = logs["rejoin" if name == rejoined else name]
        assert "Traceback" not in log, log[-3000:]
        assert re.search(rf"^round {N_ROUNDS - 1}: (voted|proposed) ", log, re.MULTILINE), log[-2000:]
        assert re.search(r"^join: left the class \(SIGINT\); this laptop's SuperNode and worker have ended$",
                         log, re.MULTILINE), log[-2000:]
    flower_logs = class_of_8["flower_logs"]
    assert len(flower_logs) >= 2 * len(class_of_8["in_class"]), sorted(flower_logs)
    for path, text in flower_logs.items():  # SuperLink, ServerApp, SuperNodes, workers
        assert "Traceback" not in text, f"{path}:\n{text[-3000:]}"


def test_nothing_is_left_running_and_every_namespace_is_removed(class_of_8):
    assert class_of_8["teacher_left"] == {}, class_of_8["teacher_left"]
    assert class_of_8["laptops_left"] == {}, class_of_8["laptops_left"]
    assert len(class_of_8["in_class"]) == N_LAPTOPS - 1, class_of_8["in_class"]  # learner 2's stays shut
    returncodes = class_of_8["join_returncodes"]
    assert set(returncodes.values()) == {128 + signal.SIGINT}, returncodes
    assert len(class_of_8["namespaces_made"]) == len(ROOM_ORDER) + 1  # and the bridge's
    assert class_of_8["namespaces_left"] == []
