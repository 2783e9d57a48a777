"""Checkpoints: 10 rounds, save, a new process loads and runs 10 more equals 20 in one go."""
import math
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import make_learner

from colearn_nb import Result, Results, load_checkpoint, save_checkpoint

RUN = textwrap.dedent("""
    import sys
    from colearn_nb import Results, collective_learning_round, initial_result, load_checkpoint
    from colearn_nb import make_mnist_learners, save_checkpoint, seed_everything, set_equal_weights

    first, last, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    seed_everything(0)
    learners = make_mnist_learners(n_learners=3, num_test_batches=1)
    set_equal_weights(learners)
    results = Results([initial_result(learners)]) if first == 0 else load_checkpoint(out + ".ckpt", learners)
    for round_index in range(first, last):
        results.data.append(collective_learning_round(learners, 0.5, round_index))
    save_checkpoint(out + ".ckpt", learners, results)
    results.save(out + ".json")
""")


def run_rounds_in_new_process(tmp_path, first, last, name):
    script = tmp_path / "run.py"
    script.write_text(RUN)
    done = subprocess.run([sys.executable, str(script), str(first), str(last), str(tmp_path / name)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return Results.load(tmp_path / f"{name}.json")


def test_resume_in_a_new_process_gives_exactly_the_results_of_one_run(tmp_path):
    in_one_go = run_rounds_in_new_process(tmp_path, 0, 20, "whole")
    run_rounds_in_new_process(tmp_path, 0, 10, "split")
    resumed = run_rounds_in_new_process(tmp_path, 10, 20, "split")
    assert len(resumed) == 21 and resumed == in_one_go
    assert 0 < in_one_go.n_rejected < 20, "the runs must be non-trivial"


def test_corrupt_or_mismatched_checkpoints_change_nothing(tmp_path):
    torch.manual_seed(0)
    learners = [make_learner(), make_learner(seed=1)]
    save_checkpoint(tmp_path / "good.ckpt", learners, Results())
    before = [learner.mli_get_current_weights().weights for learner in learners]
    (tmp_path / "corrupt.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a colearn_nb checkpoint"):
        load_checkpoint(tmp_path / "corrupt.ckpt", learners)
    with pytest.raises(ValueError, match="holds 2 learners but 3 were given"):
        load_checkpoint(tmp_path / "good.ckpt", learners + [make_learner()])
    wider = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    with pytest.raises(ValueError, match="learner 1: the checkpoint does not fit"):
        load_checkpoint(tmp_path / "good.ckpt", [learners[0], make_learner(model=wider)])
    after = [learner.mli_get_current_weights().weights for learner in learners]
    assert all(torch.equal(b[k], a[k]) for b, a in zip(before, after, strict=True) for k in b)


def test_checkpoints_refuse_arbitrary_pickles(tmp_path):
    torch.save({"format": "colearn_nb checkpoint 1", "evil": Results()}, tmp_path / "pickle.ckpt")
    with pytest.raises(ValueError, match="is not a colearn_nb checkpoint"):
        load_checkpoint(tmp_path / "pickle.ckpt", [make_learner(), make_learner()])


def test_a_checkpoint_of_an_older_format_is_refused_saying_so(tmp_path):
    torch.save({"format": "colearn_nb checkpoint 1", "learners": [], "results": "{}"}, tmp_path / "old.ckpt")
    with pytest.raises(ValueError, match=r"format: got 'colearn_nb checkpoint 1'; expected 'colearn_nb "
                                         r"checkpoint 4'\); nothing was changed"):
        load_checkpoint(tmp_path / "old.ckpt", [make_learner(), make_learner()])


def test_load_state_dict_checks_everything_before_changing_anything():
    torch.manual_seed(0)
    adam, sgd_model = make_learner(shuffle=True), torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    sgd = make_learner(model=sgd_model, optimizer=torch.optim.SGD(sgd_model.parameters(), lr=0.1))
    before = sgd.mli_get_current_weights().weights
    with pytest.raises(ValueError, match="optimizer type: got 'Adam' in the checkpoint; expected 'SGD'"):
        sgd.load_state_dict(adam.state_dict())
    a_list = make_learner(train_loader=[(torch.zeros(2, 4), torch.zeros(2).long())])  # no generator
    with pytest.raises(ValueError, match=r"loaders with their own generator: got \['train', 'vote', 'test'\]"
                                         r" in the checkpoint; expected \['vote', 'test'\]"):
        a_list.load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match=r"state: got \['model'\]; expected a PytorchLearner.state_dict\(\)"):
        sgd.load_state_dict({"model": before})
    after = sgd.mli_get_current_weights().weights
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_checkpoint_keeps_results_with_nan_and_numpy_scores(tmp_path):
    np = pytest.importorskip("numpy")
    learners = [make_learner(seed=i) for i in range(2)]
    results = Results([Result(True, [True, True], [np.float32(0.5), float("nan")], [0.25, float("inf")])])
    save_checkpoint(tmp_path / "c.ckpt", learners, results)
    loaded = load_checkpoint(tmp_path / "c.ckpt", learners)
    assert loaded.data[0].vote_scores[0] == 0.5 and math.isnan(loaded.data[0].vote_scores[1])
    assert math.isnan(loaded.data[0].test_scores[1]), "strict JSON, as Results.save: infinity stored as null"


def flip_a_byte_inside_the_largest_tensor(path):
    """Change one byte in the middle of the largest stored tensor (the file is a zip of plain records)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        tensors = [info for info in archive.infolist() if "/data/" in info.filename]
    record = max(tensors, key=lambda info: info.file_size)
    data = bytearray(path.read_bytes())
    name_length, extra_length = (int.from_bytes(data[record.header_offset + at:record.header_offset + at + 2],
                                                "little") for at in (26, 28))
    data[record.header_offset + 30 + name_length + extra_length + record.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_checkpoint_changed_by_one_byte_is_refused_and_equal_learners_load_equal(tmp_path):
    from test_interrupt_and_continue import build

    from colearn_nb import run_rounds

    learners = build("dropout_adam")
    results = run_rounds(learners, 4)
    save_checkpoint(tmp_path / "c.ckpt", learners, results)
    fresh = build("dropout_adam")
    before = [learner.mli_get_current_weights().weights for learner in fresh]
    assert load_checkpoint(tmp_path / "c.ckpt", fresh) == results
    loaded = [learner.mli_get_current_weights().weights for learner in fresh]
    assert all(torch.equal(loaded[0][k], other[k]) for other in loaded[1:] for k in other), \
        "learners saved holding the shared weights load holding the same weights"
    flip_a_byte_inside_the_largest_tensor(tmp_path / "c.ckpt")
    again = build("dropout_adam")
    with pytest.raises(ValueError, match="sha256: what the file holds is not what was saved"):
        load_checkpoint(tmp_path / "c.ckpt", again)
    after = [learner.mli_get_current_weights().weights for learner in again]
    assert all(torch.equal(b[k], a[k]) for b, a in zip(before, after, strict=True) for k in b), \
        "a refused checkpoint changes nothing"
