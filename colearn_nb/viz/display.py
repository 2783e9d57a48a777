"""Where figures go: windows, a notebook, or nowhere (headless); the one place that detects the display.

``setup_notebook`` is the first cell of every notebook (notebook 00 explains it).
"""
from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from ..protocol.checks import check_int

GUI_BACKEND_PREFIXES = ("qt", "tk", "gtk", "wx", "macosx")


def _gui_backend() -> bool:
    """True when matplotlib draws into windows (Qt, Tk, GTK, wx, macOS), not files or notebooks."""
    return matplotlib.get_backend().lower().startswith(GUI_BACKEND_PREFIXES)


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and hasattr(shell, "kernel")


def new_figure(**kwargs) -> Figure:
    """A figure outside pyplot's registry, unless a window backend is in use; shown as PNG in a notebook."""
    if _gui_backend():
        import matplotlib.pyplot as plt

        return plt.figure(**kwargs)
    if _in_notebook():
        _show_figures_as_png()
    return Figure(**kwargs)


def _show_figures_as_png() -> None:
    """Let a notebook show a plain ``Figure`` as a picture (pyplot's inline backend shows only its own)."""
    from IPython import get_ipython
    from IPython.core.pylabtools import print_figure

    formatter = get_ipython().display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def show(*figures: Figure, block: bool = False) -> None:
    """Show figures where a person can see them: windows, or a notebook when ``block``; else nothing."""
    if _gui_backend():
        import matplotlib.pyplot as plt

        plt.show(block=block)
        for fig in figures:
            fig.canvas.draw_idle()
            fig.canvas.flush_events()
    elif block and _in_notebook():
        from IPython.display import display

        display(*figures)


def available_cpus() -> int:
    """The CPUs this process may really use: its affinity mask, capped by a cgroup CPU quota (as on Binder).

    >>> available_cpus() >= 1
    True
    """
    n_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_cpu_quota()
    return max(1, min(n_cpus, int(quota)) if quota is not None else n_cpus)


def _cgroup_cpu_quota() -> float | None:
    """CPUs allowed by this process's cgroup v2 quota, or None when there is none or it cannot be read."""
    return _read_quota(Path("/sys/fs/cgroup/cpu.max"))


def _read_quota(path: Path) -> float | None:
    """A ``cpu.max`` file ("QUOTA PERIOD", or "max PERIOD" for no quota) as a number of CPUs, or None."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else float(quota) / float(period)


def _release_freed_memory() -> bool:
    """Give memory that Python and torch freed back to the system (glibc's ``malloc_trim``); False elsewhere.

    >>> isinstance(_release_freed_memory(), bool)
    True
    """
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not Linux with glibc: nothing to do
        return False
    return bool(trim(0))


def _release_after_each_cell() -> None:
    """In a notebook, run ``_release_freed_memory`` after every cell (once, however often it is asked)."""
    from IPython import get_ipython

    events = get_ipython().events
    registered = events.callbacks["post_run_cell"]
    if not any(getattr(callback, "__name__", "") == "_release" for callback in registered):
        def _release(result=None) -> None:
            _release_freed_memory()

        events.register("post_run_cell", _release)


def setup_notebook(seed: int | None = 0, offline: bool = True, threads: int | None = None) -> str:
    """A notebook's first call: shipped digits, figures as pictures, threads, one seed; prints one line.

    ``offline`` uses the 5,000 digits shipped with the kit unless ``COLEARN_NB_OFFLINE`` is already set;
    ``threads`` defaults to ``available_cpus()``; ``seed=None`` leaves the random generators alone.
    Returns the line it printed.
    """
    import torch

    from .. import __version__
    from ..pytorch.seeding import seed_everything

    if offline:
        os.environ.setdefault("COLEARN_NB_OFFLINE", "1")
    if _in_notebook():
        _show_figures_as_png()
        _release_after_each_cell()  # freed memory back to the system: Binder counts what the kernel holds
    threads = available_cpus() if threads is None else threads
    torch.set_num_threads(check_int("threads", threads, minimum=1))
    if seed is not None:
        seed_everything(seed)
    shipped = os.environ.get("COLEARN_NB_OFFLINE", "") not in ("", "0")
    line = (f"Python {sys.version.split()[0]} | torch {torch.__version__} | "
            f"matplotlib {matplotlib.__version__} | "
            f"colearn_nb {__version__} | {threads} thread{'s' if threads > 1 else ''} | seed {seed} | "
            f"{'shipped digits' if shipped else 'MNIST as found'}")
    print(line)
    return line
