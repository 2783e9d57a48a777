"""Time every notebook in a fresh kernel and measure the kernel's peak memory, against the workshop targets.

    python benchmarks/notebooks.py [notebooks/05_run_rounds.ipynb ...]

Wall time depends on what else the machine runs (the load average is printed); the kernels' CPU time
does much less. Targets: the whole sequence in at most 4 minutes on a 2-core laptop, at most 1.5 GB resident
memory per kernel (Binder gives about 2 GB). Peak memory is the largest sum of resident set sizes of the
kernel and its children, sampled every 50 ms. Runs offline on the digits shipped with the kit.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_TOTAL_S = 240.0
TARGET_PEAK_BYTES = 1.5e9


class PeakMemory:
    """Samples the resident memory of a process tree in a thread; ``peak`` holds the largest sum seen."""

    def __init__(self, pid: int, interval_s: float = 0.05):
        self.process, self.interval_s, self.peak = psutil.Process(pid), interval_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU time of a process and its waited-for children."""
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def run_notebook(path: Path) -> tuple[float, float, int]:
    """Execute ``path`` in a fresh kernel; returns (wall seconds from kernel start to shutdown, kernel CPU
    seconds, peak bytes)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        kernel = psutil.Process(client.km.provisioner.process.pid)
        with PeakMemory(kernel.pid) as memory:
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
        cpu_s = cpu_seconds(kernel)
    return time.perf_counter() - start, cpu_s, memory.peak


def main(paths: list[str]) -> None:
    os.environ.setdefault("COLEARN_NB_OFFLINE", "1")
    if any(p in ("-h", "--help") for p in paths):
        print(__doc__)
        return
    notebooks = [Path(p) for p in paths] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'notebook':<28} {'seconds':>8} {'CPU s':>8} {'peak MB':>8}")
    total_s, total_cpu_s, peak = 0.0, 0.0, 0
    for path in notebooks:
        seconds, cpu_s, peak_bytes = run_notebook(path)
        total_s, total_cpu_s, peak = total_s + seconds, total_cpu_s + cpu_s, max(peak, peak_bytes)
        print(f"{path.stem:<28} {seconds:>8.1f} {cpu_s:>8.1f} {peak_bytes / 1e6:>8.0f}")
    print(f"{'total':<28} {total_s:>8.1f} {total_cpu_s:>8.1f} {peak / 1e6:>8.0f}")
    print(f"time: {total_s:.0f} s of the {TARGET_TOTAL_S:.0f} s target "
          f"(ratio {total_s / TARGET_TOTAL_S:.2f}); "
          f"largest kernel: {peak / 1e9:.2f} GB of the {TARGET_PEAK_BYTES / 1e9:.1f} GB target "
          f"(ratio {peak / TARGET_PEAK_BYTES:.2f}); load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main(sys.argv[1:])
