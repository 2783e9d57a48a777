"""A rehearsal on the teacher's machine: N pretend laptops (30 by default) through the projector's path.

    .venv/bin/python benchmarks/rehearsal_memory.py [--laptops 30] [--rounds 2] [--whole-laptops]

Opens a class with ``ClassHost`` on 127.0.0.1 and lets ``PretendRoom``'s laptops join a second apart, as
the projector's *pretend laptops* do: each pins the CA, joins with the code and runs its own SuperNode
with its own key; their learners share one worker process. ``--whole-laptops`` makes each a
``Participant`` instead (a SuperNode with its own worker thread, what a real laptop runs). It samples every
process each second and prints each kind's peak resident memory, the whole rehearsal's peak (target:
30 laptops within 8 GB), the start-up and the round times. Every process it starts is ended at the end.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classroom_rounds import PROCESS_KINDS, MemorySampler  # noqa: E402

from colearn_nb.flower.classroom import ClassHost, Participant, PretendRoom  # noqa: E402
from colearn_nb.flower.deploy.loopback import free_port  # noqa: E402
from colearn_nb.flower.deploy.results_files import ResultsFiles  # noqa: E402

TARGET_GB = 8.0  # 30 pretend laptops and the teacher's side
THIS = ("teacher's page (ClassHost)", "rehearsal_memory.py")


def join_all(host: ClassHost, make_laptop, directory: Path, n_laptops: int) -> list:
    """``n_laptops`` pretend laptops, started a second apart in threads (as the projector does)."""
    laptops = [make_laptop(directory / f"pretend{i}", **host.join_options(), name=f"pretend {i}")
               for i in range(n_laptops)]
    for laptop in laptops:
        threading.Thread(target=laptop.start, daemon=True).start()
        time.sleep(1.0)
    return laptops


def rehearse(directory: Path, n_laptops: int, n_rounds: int, whole_laptops: bool) -> None:
    """The rehearsal, its start-up and round times printed."""
    room = PretendRoom()
    make_laptop = Participant if whole_laptops else room
    with ClassHost(directory / "host", n_learners=n_laptops, address="127.0.0.1", port=free_port()) as host:
        started = time.monotonic()
        laptops = join_all(host, make_laptop, directory, n_laptops)
        try:
            host.wait_for_class(timeout=600)
            all_in = time.monotonic()
            results = host.run_class(n_rounds, 0.5, 300)
        finally:
            for laptop in laptops:
                laptop.close()
            room.close()
    ends = ResultsFiles.written_in(directory / "host")[-1].round_ends()
    rounds = [b - a for a, b in zip(ends[1:-1], ends[2:], strict=True)]
    print(f"{n_laptops} laptops in {all_in - started:.1f} s (joining a second apart); round 0 ended "
          f"{ends[1] - ends[0]:.1f} s after the ServerApp started; rounds 1 to last: "
          + ", ".join(f"{r:.1f}" for r in rounds) + f" s (median {statistics.median(rounds or [0]):.1f} s); "
          f"{sum(r.block_proposer is not None for r in results.data[1:])} rounds run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--laptops", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--whole-laptops", action="store_true",
                        help="each pretend laptop a Participant with its own worker (no sharing)")
    arguments = parser.parse_args()
    memory = MemorySampler((THIS, *PROCESS_KINDS))
    memory.start()
    try:
        rehearse(Path(tempfile.mkdtemp(prefix="rehearsal_")), arguments.laptops, arguments.rounds,
                 arguments.whole_laptops)
    finally:
        memory.stop.set()
    print(memory.report())
    print(f"target: {arguments.laptops} pretend laptops within {TARGET_GB:.0f} GB: ratio "
          f"{memory.total_peak / 2**30 / TARGET_GB:.2f}")


if __name__ == "__main__":
    main()
