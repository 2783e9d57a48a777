"""Time every notebook in a fresh kernel and measure its peak memory, against the workshop targets.

    python benchmarks/notebooks.py [notebooks/05_run_rounds.ipynb ...]

Wall time depends on what else the machine runs (the load average is printed); the kernels' CPU time
does much less. Targets: the whole sequence in at most 4 minutes on a 2-core laptop; peak memory at most
1.0 GB per notebook, 1.8 GB for notebook 12 (Flower), which is what mybinder.org guarantees (1 GB a user)
and stays under where it restarts the kernel (2 GB, counting every process the user runs). Peak memory is
the largest sum of resident set sizes of the kernel and every process it started (Ray's included),
sampled every 50 ms. Notebook 12 runs twice: as on a machine without a memory limit (Flower on Ray) and
as under Binder's 2 GB limit (COLEARN_NB_FLOWER_BACKEND=in-process: what the cgroup limit makes it
choose there); the target is Binder's. Runs offline on the digits shipped with the kit.

The kernels run this interpreter's torch. Binder's image has conda-forge's CPU-only ``pytorch-cpu``
(2.13.0); pip's default torch on Linux is the CUDA build, whose import alone holds about 0.3 GB more
(CUDA libraries, triton). To measure what Binder runs, run this script with the Python of a venv that
has the CPU-only torch (see "Memory" in the README).
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
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parents[1]
TARGET_TOTAL_S = 240.0
TARGET_PEAK_BYTES = 1.0e9
TARGET_PEAK_BYTES_BY_NOTEBOOK = {"12_many_machines": 1.8e9}  # Flower: a SuperLink and SuperNodes
FLOWER_NOTEBOOK = "12_many_machines"
BACKEND_VARIABLE = "COLEARN_NB_FLOWER_BACKEND"  # colearn_nb.flower.simulation reads it


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


def runs(notebooks: list[Path]) -> list[tuple[str, Path, str | None]]:
    """(row name, notebook, Flower backend to force or None) for every run; notebook 12 twice."""
    rows: list[tuple[str, Path, str | None]] = []
    for path in notebooks:
        if path.stem == FLOWER_NOTEBOOK and BACKEND_VARIABLE not in os.environ:
            rows += [(f"{path.stem} (Ray)", path, "ray"), (f"{path.stem} (2 GB limit)", path, "in-process")]
        else:
            rows.append((path.stem, path, None))
    return rows


def run_with_backend(path: Path, backend: str | None) -> tuple[float, float, int]:
    """``run_notebook(path)`` with ``COLEARN_NB_FLOWER_BACKEND`` set to ``backend`` for its kernel."""
    if backend is None:
        return run_notebook(path)
    os.environ[BACKEND_VARIABLE] = backend
    try:
        return run_notebook(path)
    finally:
        del os.environ[BACKEND_VARIABLE]


def torch_build() -> str:
    """The kernels' torch (this interpreter's), e.g. "torch 2.13.0+cpu (CPU-only build)"."""
    from importlib.metadata import version

    torch_version = version("torch")
    build = "CPU-only build" if torch_version.endswith("+cpu") else "pip's default build, CUDA libraries"
    return f"torch {torch_version} ({build}) in {sys.prefix}"


def main(paths: list[str]) -> None:
    os.environ.setdefault("COLEARN_NB_OFFLINE", "1")
    if any(p in ("-h", "--help") for p in paths):
        print(__doc__)
        return
    notebooks = [Path(p) for p in paths] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start; {torch_build()}")
    print(f"{'notebook':<32} {'seconds':>8} {'CPU s':>8} {'peak MB':>8} {'target MB':>9}  within")
    total_s, total_cpu_s, failed = 0.0, 0.0, []
    for name, path, backend in runs(notebooks):
        try:
            seconds, cpu_s, peak_bytes = run_with_backend(path, backend)
        except (CellExecutionError, CellTimeoutError) as error:  # e.g. Ray slow to start on a busy machine
            failed.append(name)
            print(f"{name:<32} failed: {str(error).strip().splitlines()[-1][:120]}")
            continue
        target = TARGET_PEAK_BYTES_BY_NOTEBOOK.get(path.stem, TARGET_PEAK_BYTES)
        within = peak_bytes <= target
        failed += [] if within else [name]
        total_s, total_cpu_s = total_s + seconds, total_cpu_s + cpu_s
        print(f"{name:<32} {seconds:>8.1f} {cpu_s:>8.1f} {peak_bytes / 1e6:>8.0f} {target / 1e6:>9.0f}  "
              f"{'yes' if within else 'NO'}")
    print(f"{'total':<32} {total_s:>8.1f} {total_cpu_s:>8.1f}")
    memory = "over target or failed: " + ", ".join(failed) if failed else "every notebook within its target"
    print(f"time: {total_s:.0f} s of the {TARGET_TOTAL_S:.0f} s target "
          f"(ratio {total_s / TARGET_TOTAL_S:.2f}); memory: {memory}; "
          f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main(sys.argv[1:])
