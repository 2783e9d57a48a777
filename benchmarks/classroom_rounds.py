"""Round time of a class across hosts: the teacher and N laptops (3 by default), each a network namespace.

    sudo .venv/bin/python benchmarks/classroom_rounds.py [--rounds 10] [--hog 2] [--laptops 16] [--kill 3]

Runs the real commands (``python -m colearn_nb.classroom host`` and ``join``) in namespaces joined by a
bridge (198.18.0.0/24, no route elsewhere; see tests/netns.py) and prints the start-up (until the join
line, until every laptop joined, until the first round ended), where the start-up after the last join
goes (until the ServerApp runs, finding the learners and their equal weights, round 0's own steps), each
round's time, the median, and the compute inside a round (the learners' own "answered ... in X s" lines).
Targets: round 0 done within 20 s of the last join; a round within 10 s plus the compute. ``--hog N`` runs
N busy loops beside the class (a teacher's laptop with a browser and a video call) and prints how long
each step waited for its slowest answer against that answer's compute. It samples every process of the
class each second and prints each kind's peak resident memory (``join``, SuperNode, worker on a laptop;
``host``, SuperLink, SuperExec, ServerApp on the teacher's side) and the whole class's peak. Laptops join
a second apart, as in a room. ``--kill K`` kills K laptops (every process, as a closed lid) once round 1
has ended and prints who the results record missing in which rounds, whether the host's output holds a
traceback, and what is left running. Needs root; every namespace and process it makes is removed at the end.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from netns import Room, namespaces_unavailable  # noqa: E402

from colearn_nb.flower.deploy.results_files import ResultsFiles  # noqa: E402

TARGET_FLOOR_S = 10.0
TARGET_START_S = 20.0  # from the last join to the end of round 0, 3 laptops
TARGET_START_16_S = 45.0  # the same with 16 laptops
CLASSROOM = [sys.executable, "-m", "colearn_nb.classroom"]


def wait_for(log: Path, pattern: str, timeout: float) -> float:
    """Seconds until ``pattern`` appears in ``log``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if log.exists() and re.search(pattern, log.read_text(errors="replace"), re.MULTILINE):
            return time.monotonic() - start
        time.sleep(0.1)
    raise TimeoutError(f"no {pattern!r} in {log} within {timeout} s")


def compute_per_round(work: Path) -> float:
    """Median over rounds of the slowest learner work in each step: train, then evaluate."""
    times = answer_times(work)
    return statistics.median(times.get("train", [])) + max(times.get("evaluate", []), default=0.0)


def answer_times(work: Path) -> dict[str, list[float]]:
    """Every learner's compute per answer, from the workers' log lines, by message type."""
    times: dict[str, list[float]] = {}
    for log in work.glob("laptop*/logs/*supernode_*.log"):  # the worker: a thread of the SuperNode's process
        for kind, seconds in re.findall(r"answered ([\w.]+) in ([\d.]+) s", log.read_text()):
            times.setdefault(kind, []).append(float(seconds))
    return times


def print_waits(work: Path) -> None:
    """Each step's median and longest wait for an answer, against the median and longest compute of one."""
    computes, waits_by_step = answer_times(work), dict[str, list[float]]()
    for wait in ResultsFiles.written_in(work / "host")[-1].answer_waits():
        waits_by_step.setdefault(wait.step, []).append(wait.seconds)
    for kind, waits in sorted(waits_by_step.items()):
        compute = computes.get(kind, [0.0])
        print(f"{kind:>13}: waited median {statistics.median(waits):.2f} s, longest {max(waits):.2f} s; "
              f"an answer's compute median {statistics.median(compute):.2f} s, longest {max(compute):.2f} s")


def print_start_up(work: Path, last_join: float, n_laptops: int) -> None:
    """Where the time from the last join to the end of round 0 went, from the ServerApp's own times."""
    files = ResultsFiles.written_in(work / "host")[-1]
    ends = files.round_ends()  # the ServerApp's start, then each round's end (seconds since the epoch)
    steps = [wait for wait in files.answer_waits() if wait.round_index == 0]
    round_0 = sum(max((w.seconds for w in steps if w.step == step), default=0.0)
                  for step in ("query.init", "train", "evaluate"))
    to_end, target = ends[1] - last_join, TARGET_START_16_S if n_laptops >= 16 else TARGET_START_S
    print(f"from the last join to the end of round 0: {to_end:.1f} s (target {target:.0f} s: ratio "
          f"{to_end / target:.2f}) = {ends[0] - last_join:.1f} s until the ServerApp ran (flwr run, "
          f"SuperExec) + {ends[1] - ends[0] - round_0:.1f} s finding the learners and giving them equal "
          f"weights + {round_0:.1f} s round 0's own steps")


# what each process of a class is, by a part of its command line (first match wins)
PROCESS_KINDS = (("join", "colearn_nb.classroom join"), ("host", "colearn_nb.classroom host"),
                 ("SuperNode with its worker", "--worker-app"), ("shared worker", "--nodes-dir"),
                 ("SuperNode", "flower.deploy.supernode"), ("SuperNode", "flower-supernode"),
                 ("worker", "flower.deploy.worker"), ("SuperLink", "flower-superlink"),
                 ("SuperExec", "flower-superexec"), ("ServerApp", "flwr-serverapp"))


class MemorySampler(threading.Thread):
    """Samples every process of the class each second: resident memory (peaks, each and in all), CPU time."""

    def __init__(self, kinds: tuple[tuple[str, str], ...] = PROCESS_KINDS) -> None:
        super().__init__(daemon=True)
        self.kinds = kinds  # (kind, a part of its command line), the first match wins
        self.peaks: dict[int, tuple[str, int]] = {}  # pid -> (kind, peak bytes)
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (kind, CPU seconds, user and system, so far)
        self.total_peak, self.stop = 0, threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.wait(1.0):
            total = 0
            for process in psutil.process_iter(["pid", "cmdline", "memory_info", "cpu_times"]):
                line = " ".join(process.info["cmdline"] or [])
                kind = next((kind for kind, part in self.kinds if part in line), None)
                if kind is None or process.info["memory_info"] is None:
                    continue
                rss, times = process.info["memory_info"].rss, process.info["cpu_times"]
                if times is not None:
                    self.cpu[process.info["pid"]] = (kind, times.user + times.system)
                total += rss
                self.peaks[process.info["pid"]] = (kind, max(rss, self.peaks.get(process.info["pid"],
                                                                                 (kind, 0))[1]))
            self.total_peak = max(self.total_peak, total)

    def report(self) -> str:
        """Each kind's processes: how many, the median and largest peak (MB); the class's peak in all (GB)."""
        by_kind: dict[str, list[int]] = {}
        for kind, peak in self.peaks.values():
            by_kind.setdefault(kind, []).append(peak)
        kinds = [f"{kind} x{len(peaks)} median {statistics.median(peaks) / 2**20:.0f} MB, largest "
                 f"{max(peaks) / 2**20:.0f} MB" for kind, peaks in sorted(by_kind.items())]
        return ("memory per process kind (peak resident): " + "; ".join(kinds)
                + f"\nthe whole class at its peak: {self.total_peak / 2**30:.2f} GB\n" + self.cpu_report())

    def cpu_report(self) -> str:
        """Each kind's CPU seconds over the class: in all and per process (median); where the cores went."""
        by_kind: dict[str, list[float]] = {}
        for kind, seconds in self.cpu.values():
            by_kind.setdefault(kind, []).append(seconds)
        kinds = [f"{kind} {sum(times):.0f} s in all, {statistics.median(times):.1f} s each"
                 for kind, times in sorted(by_kind.items(), key=lambda item: -sum(item[1]))]
        return "CPU time per process kind (user + system): " + "; ".join(kinds)


def print_dropouts(work: Path, room: Room, n_laptops: int) -> None:
    """Who the results record missing in which rounds; a traceback in the host's output; what still runs."""
    from colearn_nb import Results

    time.sleep(5)  # the host has printed its results line: give its processes a moment to end
    results = Results.load(work / "results.json")
    missing = {learner: [i for i, result in enumerate(results.data[1:]) if learner in result.missing]
               for learner in range(n_laptops)}
    print("missing (learner: rounds): " + "; ".join(f"{learner}: {rounds}" for learner, rounds in
                                                    missing.items() if rounds))
    print(f"traceback in the host's output: {'Traceback' in (work / 'host.log').read_text()}; processes "
          f"still running in the teacher's namespace: {len(room.pids('teacher'))}")


def start_hogs(n_hogs: int) -> list[subprocess.Popen]:
    """``n_hogs`` processes that keep a CPU core busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_hogs)]


def main(n_rounds: int, n_hogs: int = 0, n_laptops: int = 3, n_killed: int = 0) -> None:
    if (why := namespaces_unavailable()) is not None:
        raise SystemExit(f"classroom_rounds: {why}")
    work = Path(tempfile.mkdtemp(prefix="classroom_bench_"))
    print(f"load average {os.getloadavg()[0]:.1f} at the start; {n_laptops} laptops; {n_hogs} busy loops "
          "beside the class")
    hogs, memory = start_hogs(n_hogs), MemorySampler()
    memory.start()
    try:
        run_class(work, n_rounds, n_laptops, n_killed)
    finally:
        memory.stop.set()
        for hog in hogs:
            hog.kill()
            hog.wait()
    print_waits(work)
    print(memory.report())
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def run_class(work: Path, n_rounds: int, n_laptops: int, n_killed: int = 0) -> None:
    """The class of ``n_laptops`` laptops, its start-up and round times printed; ``n_killed`` drop out."""
    with Room() as room:
        teacher = room.add("teacher")
        for i in range(n_laptops):
            room.add(f"laptop{i}")
        started = time.monotonic()
        room.run("teacher", [*CLASSROOM, "host", "--learners", str(n_laptops), "--rounds", str(n_rounds),
                             "--address",
                             teacher, "--dir", str(work / "host"), "--results", str(work / "results.json")],
                 work / "host.log", stdin=subprocess.PIPE)
        to_join_line = wait_for(work / "host.log", r"^python -m colearn_nb join", 180)
        join = re.search(r"^python -m colearn_nb (join .*)$", (work / "host.log").read_text(),
                         re.MULTILINE).group(1).split()
        joined_at = time.monotonic()
        for i in range(n_laptops):
            room.run(f"laptop{i}", [*CLASSROOM, *join, "--dir", str(work / f"laptop{i}")],
                     work / f"laptop{i}.log")
            time.sleep(1.0)  # a room: laptops join a second apart
        to_joined = max(wait_for(work / f"laptop{i}.log", "joined as learner", 600) for i in range(n_laptops))
        last_join = time.time()
        wait_for(work / "host.log", r"^round 0: ", 900)
        to_first_round = time.monotonic() - joined_at
        if n_killed:
            wait_for(work / "host.log", r"^round 1: ", 300)
            for i in range(n_laptops - n_killed, n_laptops):  # the last to join close their lids
                room.kill_host(f"laptop{i}")
        wait_for(work / "host.log", r"^results in ", 60 * n_rounds + 300 * bool(n_killed))
        total = time.monotonic() - started
        if n_killed:
            print_dropouts(work, room, n_laptops)
    ends = ResultsFiles.written_in(work / "host")[-1].round_ends()
    rounds = [b - a for a, b in zip(ends[1:-1], ends[2:], strict=True)]  # round 0 holds the start too
    compute = compute_per_round(work)
    median = statistics.median(rounds)
    print(f"start-up: join line after {to_join_line:.1f} s; {n_laptops} laptops joined {to_joined:.1f} s "
          f"after starting join; round 0 done {to_first_round:.1f} s after starting join; {total:.0f} s in "
          f"all for {n_rounds} rounds")
    print_start_up(work, last_join, n_laptops)
    print("rounds 1 to last (s): " + ", ".join(f"{r:.1f}" for r in rounds))
    print(f"median round {median:.1f} s; compute in a round (median train + slowest evaluate) "
          f"{compute:.2f} s; the rest, {median - compute:.1f} s, is Flower's messaging; target "
          f"{TARGET_FLOOR_S:.0f} s + compute: ratio {median / (TARGET_FLOOR_S + compute):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--hog", type=int, default=0, help="busy loops beside the class (default 0)")
    parser.add_argument("--laptops", type=int, default=3, help="laptops in the class (default 3)")
    parser.add_argument("--kill", type=int, default=0, help="laptops killed after round 1 (default 0)")
    arguments = parser.parse_args()
    main(arguments.rounds, arguments.hog, arguments.laptops, arguments.kill)
