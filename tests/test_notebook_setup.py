"""The one-call notebook set-up, and no hidden process-wide state from the kit's optional parts."""
import os
import warnings

import pytest
import torch
from conftest import make_learner

import colearn_nb
from colearn_nb import DiffPrivConfig, available_cpus, opacus_available, setup_notebook
from colearn_nb.viz import display


def test_available_cpus_follows_the_affinity_mask_and_a_cgroup_quota(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(display, "_cgroup_cpu_quota", lambda: display._read_quota(quota))
    cases = (("max 100000", 4), ("200000 100000", 2), ("150000 100000", 1), ("50000 100000", 1))
    for text, expected in cases:
        quota.write_text(text)
        assert available_cpus() == expected, text
    quota.unlink()
    assert available_cpus() == 4, "no cgroup file: the affinity mask alone"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {5})
    assert available_cpus() == 1


def test_setup_notebook_sets_threads_and_seed_and_prints_one_line(capsys, monkeypatch):
    threads_before = torch.get_num_threads()
    monkeypatch.delenv("COLEARN_NB_OFFLINE", raising=False)
    try:
        line = setup_notebook(seed=3, threads=1)
        first = torch.rand(1)
        assert torch.get_num_threads() == 1
        setup_notebook(seed=3, threads=1)
        assert torch.equal(first, torch.rand(1)), "the seed is set"
    finally:
        torch.set_num_threads(threads_before)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [line, line] and f"colearn_nb {colearn_nb.__version__}" in line
    assert "1 thread |" in line and "seed 3" in line and "shipped digits" in line
    assert os.environ["COLEARN_NB_OFFLINE"] == "1"


def test_setup_notebook_picks_the_cpus_it_may_use(monkeypatch, capsys):
    threads_before = torch.get_num_threads()
    monkeypatch.setattr(display, "available_cpus", lambda: 1)
    try:
        assert "1 thread |" in setup_notebook(seed=None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads_before)


@pytest.mark.parametrize("threads", [0, True, 1.5])
def test_setup_notebook_refuses_a_bad_thread_count(threads):
    with pytest.raises(ValueError, match=f"threads: got {threads!r}; expected an integer >= 1"):
        setup_notebook(threads=threads)


@pytest.mark.skipif(not opacus_available(), reason="opacus is not installed (pip install opacus)")
def test_a_private_learner_is_built_openly_and_leaves_warning_filters_alone():
    filters_before = list(warnings.filters)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    config = DiffPrivConfig(target_epsilon=50.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=1.0)
    learner = make_learner(model=model, optimizer=optimizer, diff_priv_config=config, num_train_batches=2)
    learner.mli_propose_weights()
    assert warnings.filters == filters_before, "no process-wide warnings filter"
    assert learner.optimizer is learner.privacy.optimizer
    assert learner.optimizer.original_optimizer is optimizer, "the user's optimizer, wrapped"
    assert learner.train_loader is learner.privacy.loader
    assert learner.privacy.epsilon() > 0
