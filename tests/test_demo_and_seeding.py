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


def test_one_learner_built_alone_is_that_learner_of_the_whole_list():
    """A laptop builds only its learner (``only=``): same weights, scores, stream and random state after."""
    import torch

    from colearn_nb.pytorch.privacy import DiffPrivConfig

    def built(only, **options):
        seed_everything(0)
        learners = make_mnist_learners(n_learners=4, num_train_batches=3, only=only, **options)
        return learners, torch.rand(3)

    def same(first, second):
        return first.weights.keys() == second.weights.keys() and all(
            torch.equal(first.weights[name], second.weights[name]) for name in first.weights)

    everyone, drawn = built(None)
    for index in (0, 2, 3):
        (alone,), alone_drawn = built(index)
        whole = everyone[index]
        assert alone.stream.seed == whole.stream.seed and alone.vote_score == whole.vote_score
        assert same(alone.mli_get_current_weights(), whole.mli_get_current_weights())
        assert torch.equal(alone_drawn, drawn)
        assert same(alone.mli_propose_weights(), whole.mli_propose_weights())
    private = {"diff_priv_config": DiffPrivConfig(target_epsilon=5.0, target_delta=1e-5, planned_proposals=4)}
    (everyone, drawn), ((alone,), alone_drawn) = built(None, **private), built(2, **private)
    assert torch.equal(alone_drawn, drawn)
    assert same(alone.mli_propose_weights(), everyone[2].mli_propose_weights())
    with pytest.raises(ValueError, match="only: got 4"):
        make_mnist_learners(n_learners=4, only=4)


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
