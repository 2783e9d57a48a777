"""A small memory limit (mybinder.org: 2 GB) is found in the cgroup files and runs Flower without Ray."""
import os
import sys

import pytest

from colearn_nb.flower.environment import memory_limit_bytes
from colearn_nb.flower.simulation import BACKEND_VARIABLE, RAY_NEEDS_BYTES, choose_backend

GB = 2**30
V1_UNLIMITED = "9223372036854771712\n"  # what cgroup v1 writes when there is no limit


def cgroup_files(tmp_path, files: dict[str, str], proc_self_cgroup: str = "0::/\n"):
    """A fake ``/sys/fs/cgroup`` holding ``files`` and a fake ``/proc/self/cgroup``; returns both paths."""
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(proc_self_cgroup)
    return root, proc


@pytest.mark.parametrize("files, proc_self_cgroup, expected", [
    ({"memory.max": "2147483648\n"}, "0::/\n", 2 * GB),  # cgroup v2 in a container, as on mybinder.org
    ({"memory.max": "max\n"}, "0::/\n", None),
    ({"user.slice/app/memory.max": "1073741824\n", "memory.max": "max\n"}, "0::/user.slice/app\n", GB),
    ({"memory/memory.limit_in_bytes": "2147483648\n"}, "4:memory:/\n", 2 * GB),  # cgroup v1
    ({"memory/memory.limit_in_bytes": V1_UNLIMITED}, "4:memory:/\n", None),
    ({"memory/docker/abc/memory.limit_in_bytes": "3221225472\n",
      "memory/memory.limit_in_bytes": V1_UNLIMITED},
     "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n", 3 * GB),
    ({"memory.max": "2147483648\n", "memory/memory.limit_in_bytes": "1073741824\n"},
     "0::/\n", GB),  # the smallest counts
    ({}, "0::/\n", None),  # no cgroup files at all (macOS, Windows)
    ({"memory.max": "not a number\n"}, "0::/\n", None),
])
def test_memory_limit_from_cgroup_files(tmp_path, files, proc_self_cgroup, expected):
    root, proc = cgroup_files(tmp_path, files, proc_self_cgroup)
    assert memory_limit_bytes(root, proc) == expected


def test_unreadable_proc_self_cgroup_falls_back_to_the_root_files(tmp_path):
    root, _ = cgroup_files(tmp_path, {"memory.max": "2147483648\n"})
    assert memory_limit_bytes(root, tmp_path / "missing") == 2 * GB


def test_backend_follows_the_limit_and_can_be_forced(monkeypatch):
    monkeypatch.delenv(BACKEND_VARIABLE, raising=False)
    backend, why = choose_backend(limit_bytes=2 * GB)
    assert backend == "in-process" and "2.0 GB" in why
    assert choose_backend(limit_bytes=RAY_NEEDS_BYTES)[0] == "ray"
    assert choose_backend("ray", limit_bytes=GB) == ("ray", "asked for")
    monkeypatch.setenv(BACKEND_VARIABLE, "in-process")
    assert choose_backend(limit_bytes=64 * GB) == ("in-process", f"set by {BACKEND_VARIABLE}")
    assert choose_backend("ray")[0] == "ray"  # the argument wins over the variable
    monkeypatch.setenv(BACKEND_VARIABLE, "dask")
    with pytest.raises(ValueError, match="backend: got 'dask'; expected one of 'ray', 'in-process'"):
        choose_backend()


def test_in_process_flower_run_gives_the_in_process_results(monkeypatch, tmp_path, capsys):
    pytest.importorskip("flwr", reason="Flower is not installed: pip install -e .[flower]")
    from colearn_nb import run_rounds
    from colearn_nb.flower import MnistLearnerFactory, run_flower_simulation
    from colearn_nb.flower.environment import QUIET_ENVIRONMENT
    from colearn_nb.flower.in_process import RAY_BACKEND_MODULE
    from colearn_nb.pytorch.seeding import seed_everything

    monkeypatch.setenv("FLWR_HOME", str(tmp_path / "flwr_home"))
    for name, value in QUIET_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(BACKEND_VARIABLE, "in-process")
    ray_backend_before = sys.modules.get(RAY_BACKEND_MODULE)
    factory = MnistLearnerFactory(n_learners=3)
    results = run_flower_simulation(factory, n_learners=3, n_rounds=3)
    assert "Flower's ClientApps run in this process, without Ray" in capsys.readouterr().out
    assert sys.modules.get(RAY_BACKEND_MODULE) is ray_backend_before  # Flower's own backend is back
    seed_everything(factory.seed)
    expected = run_rounds([factory(i) for i in range(3)], n_rounds=3)
    assert results.to_dict() == expected.to_dict()
    assert [r.block_proposer for r in results.data] == [None, 0, 1, 2]


def test_a_failing_learner_is_named_on_the_in_process_path(monkeypatch, tmp_path):
    pytest.importorskip("flwr", reason="Flower is not installed: pip install -e .[flower]")
    from colearn_nb.flower import MnistLearnerFactory, run_flower_simulation

    monkeypatch.setenv("FLWR_HOME", str(tmp_path / "flwr_home"))
    with pytest.raises(RuntimeError, match=r"(?s)failed on 'query.hello'.*Invalid learning rate: -1.0"):
        run_flower_simulation(MnistLearnerFactory(n_learners=2, learning_rate=-1.0), n_learners=2, n_rounds=1,
                              timeout=60, backend="in-process")


def resident_bytes() -> int:
    """This process's resident memory (Linux)."""
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux only")
def test_freed_memory_goes_back_to_the_system():
    from colearn_nb.viz.display import _release_freed_memory

    blocks = [bytearray(100_000) for _ in range(2_000)]  # 200 MB on the heap (under glibc's mmap threshold)
    last = blocks[-1]  # kept: the heap's top cannot shrink by itself
    del blocks
    before = resident_bytes()
    assert _release_freed_memory() is True
    assert before - resident_bytes() > 100e6
    assert len(last) == 100_000


def test_setup_notebook_releases_freed_memory_after_every_cell(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    from colearn_nb.viz import display

    calls = []
    monkeypatch.setattr(display, "_release_freed_memory", lambda: calls.append("released") or True)
    shell = InteractiveShell.instance()
    try:
        display._release_after_each_cell()
        display._release_after_each_cell()  # a second setup_notebook adds no second hook
        shell.run_cell("x = 1")
        shell.run_cell("y = 2")
    finally:
        InteractiveShell.clear_instance()
    assert calls == ["released", "released"]
