"""Peak memory (RSS) of the main job, ``python -m colearn_nb.demo``,
next to a bare interpreter importing the same.

    python benchmarks/demo_memory.py                       # the default demo: 5 learners, 20 rounds
    python benchmarks/demo_memory.py -- --n-learners 10    # arguments after -- go to the demo

Each command runs as its own child process; ``os.wait4`` gives that child's own resource usage, so the
peak RSS of one run is not mixed with another's. Outputs go to a temporary folder that is removed after.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

IMPORTS_ONLY = "import torch, matplotlib, colearn_nb, colearn_nb.demo, colearn_nb.tutorial.factory"


def peak_rss_mib(command: list[str]) -> tuple[float, float]:
    """Run ``command`` to the end; its peak resident memory in MiB and its wall-clock seconds."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            log.seek(0)
            raise SystemExit(f"{' '.join(command)} failed with exit status {process.returncode}:\n"
                             + log.read().decode(errors="replace")[-2000:])
    return usage.ru_maxrss / 1024, time.perf_counter() - start  # ru_maxrss is in KiB on Linux


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; everything after ``--`` is passed to the demo."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo_args", nargs="*",
                        help="extra arguments for python -m colearn_nb.demo (after --)")
    parser.add_argument("--max-mib", type=float, default=None,
                        help="exit with status 1 when the peak is above this")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Measure and print both peaks and the demo's share above the imports."""
    args = parse_args(argv)
    base_mib, base_s = peak_rss_mib([sys.executable, "-c", IMPORTS_ONLY])
    with tempfile.TemporaryDirectory() as output_dir:
        demo = [sys.executable, "-m", "colearn_nb.demo", "--output-dir", output_dir, *args.demo_args]
        demo_mib, demo_s = peak_rss_mib(demo)
    print(f"imports only ({IMPORTS_ONLY}): peak RSS {base_mib:.0f} MiB, {base_s:.1f} s")
    print(f"python -m colearn_nb.demo {' '.join(args.demo_args)}".rstrip()
          + f": peak RSS {demo_mib:.0f} MiB, {demo_s:.1f} s; {demo_mib - base_mib:.0f} MiB above the imports "
          f"(ratio {demo_mib / base_mib:.2f})")
    if args.max_mib is not None and demo_mib > args.max_mib:
        raise SystemExit(f"peak RSS {demo_mib:.0f} MiB is above --max-mib {args.max_mib:.0f}")


if __name__ == "__main__":
    main()
