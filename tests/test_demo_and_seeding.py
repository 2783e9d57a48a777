"""The main job end to end, and one seed giving identical results."""
import subprocess
import sys

import pytest

from colearn_nb import Results, make_mnist_learners, run_rounds, seed_everything


def run_seeded(seed, n_rounds=3):
    seed_everything(seed)
    return run_rounds(make_mnist_learners(n_learners=3, seed=seed), n_rounds)


def test_one_seed_gives_identical_results_twice():
    first, second = run_seeded(0), run_seeded(0)
    assert first == second
    assert first.data[-1].training_summaries, "the proposal's training summary is recorded"
    assert run_seeded(1, n_rounds=1) != first


def test_seed_everything_refuses_bad_seeds():
    with pytest.raises(ValueError, match="seed: got -1"):
        seed_everything(-1)


def test_demo_writes_results_and_plots(tmp_path):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "colearn_nb.demo", "--n-learners", "3", "--n-rounds", "2",
                          "--output-dir", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Round 1: learner 1 proposed" in run.stdout  # rounds numbered by round_index, from 0
    assert "shipped with colearn_nb" in run.stderr, "one log line says which MNIST was used"
    results = Results.load(out / "results.json")
    assert len(results) == 3 and results.n_learners == 3
    final = float(run.stdout.strip().splitlines()[-1].split(": ")[1])
    assert final == pytest.approx(results.shared_model_scores[-1], abs=1e-4)
    for name in ("scores.png", "votes.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_demo_help_and_bad_options():
    assert "--vote-threshold" in subprocess.run([sys.executable, "-m", "colearn_nb.demo", "--help"],
                                                capture_output=True, text=True).stdout
    run = subprocess.run([sys.executable, "-m", "colearn_nb.demo", "--vote-threshold", "2",
                          "--n-rounds", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "vote_threshold: got 2.0; expected a number in [0, 1]" in run.stderr
