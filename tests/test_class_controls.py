"""The teacher's live controls: a laptop's learner told to propose garbage or a sign-flipped update, lifted
again, the vote threshold changed between rounds; each round's ``Result`` records the controls it ran under.

Checked here as data (the controls, their file, the results that record them), as the host's typed controls,
and on Flower's simulation engine against the in-process rounds with notebook 09's wrappers. Across hosts:
tests/test_classroom.py; on the projector page with a user's own learners: tests/test_classroom_loopback.py.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from colearn_nb import Result, Results
from colearn_nb.protocol.class_controls import ClassControls

sys.path.insert(0, str(Path(__file__).parent))
from controlled_rounds import rounds_under  # noqa: E402


def test_controls_are_checked_and_read_back_as_written(tmp_path):
    controls = ClassControls(0.5).with_attack(2, "garbage", n_learners=3).with_attack(0, "sign-flip", 3)
    assert controls.attacks == {0: "sign-flip", 2: "garbage"}
    assert controls.attack_list(4) == ["sign-flip", None, "garbage", None]
    assert controls.describe() == ("threshold 0.5; learner 0 proposes a sign-flipped update; learner 2 "
                                   "proposes garbage")
    lifted = controls.with_attack(2, None, 3).with_threshold(0.7)
    assert lifted.attacks == {0: "sign-flip"} and lifted.vote_threshold == 0.7
    assert ClassControls.from_json(lifted.to_json()) == lifted
    with pytest.raises(ValueError, match=r"attack: got 'explode'; expected 'garbage' or 'sign-flip'"):
        controls.with_attack(1, "explode", 3)
    with pytest.raises(ValueError, match=r"learner: got 3; expected an integer in \[0, 2\] \(the class's "
                                         r"learners are 0 to 2\)"):
        controls.with_attack(3, "garbage", 3)
    with pytest.raises(ValueError, match=r"vote_threshold: got 1.5"):
        controls.with_threshold(1.5)
    with pytest.raises(ValueError, match="controls: attacks: got learner 'two'"):
        ClassControls.from_json('{"vote_threshold": 0.5, "attacks": {"two": "garbage"}}')


def test_the_controls_file_is_absent_until_the_teacher_changes_something(tmp_path):
    pytest.importorskip("flwr")
    from colearn_nb.flower.deploy.results_files import ResultsFiles

    files = ResultsFiles(tmp_path / "results_3.json")
    assert files.read_controls() is None
    files.write_controls(ClassControls(0.6, {1: "garbage"}))
    assert files.controls.name == "results_3.controls.json"
    assert files.read_controls() == ClassControls(0.6, {1: "garbage"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results_3.controls.json"], "no half-written file"


def test_results_record_the_controls_and_refuse_wrong_ones(tmp_path):
    nan = math.nan
    results = Results([Result(False, [True] * 3, [0.1] * 3, [0.1] * 3),
                       Result(False, [False, False, None], [0.1, 0.1, nan], [0.1, 0.1, 0.1], block_proposer=2,
                              vote_threshold=0.6, attacks=[None, None, "garbage"])])
    results.save(tmp_path / "results.json")
    loaded = Results.load(tmp_path / "results.json")
    assert (loaded.data[1].vote_threshold, loaded.data[1].attacks) == (0.6, [None, None, "garbage"])
    assert (loaded.data[0].vote_threshold, loaded.data[0].attacks) == (None, [])
    data = results.to_dict()
    data["data"][1]["attacks"] = ["garbage"]
    with pytest.raises(ValueError, match=r"round 1: attacks: got \['garbage'\]; expected \[\] or one entry "
                                         "per learner"):
        Results.from_dict(data)
    data["data"][1].update(attacks=[], vote_threshold=2)
    with pytest.raises(ValueError, match=r"round 1: vote_threshold: got 2; expected null or a number in"):
        Results.from_dict(data)


@pytest.fixture
def class_host(tmp_path):
    pytest.importorskip("flwr")
    from colearn_nb.flower.classroom import ClassHost

    return ClassHost(tmp_path / "host", n_learners=3, address="127.0.0.1")  # not started: no Flower running


@pytest.mark.parametrize("typed, said", [
    ("attack 2 garbage", "from the next round: threshold 0.5; learner 2 proposes garbage"),
    ("attack 1 sign-flip", "from the next round: threshold 0.5; learner 1 proposes a sign-flipped update"),
    ("threshold 0.7", "from the next round: threshold 0.7; every learner honest"),
    ("attack 3 garbage", r"host: 'attack 3 garbage' not done: learner: got 3; expected an integer in [0, 2]"),
    ("attack two garbage", "host: 'attack two garbage' not done: learner: got 'two'; expected a learner's "
                           "number, e.g. 2"),
    ("attack 1 explode", "host: 'attack 1 explode' not done: attack: got 'explode'; expected 'garbage' or "
                         "'sign-flip'"),
    ("threshold 1.5", "host: 'threshold 1.5' not done: vote_threshold: got 1.5"),
    ("threshold high", "host: 'threshold high' not done: threshold: got 'high'; expected a number in [0, 1]"),
    ("dance", "host: 'dance' is not a control; type 'attack 2 garbage', 'attack 2 sign-flip', 'honest 2' or "
              "'threshold 0.7', then Enter"),
])
def test_the_host_says_what_a_typed_control_changed_or_why_not(class_host, typed, said):
    from colearn_nb.flower.classroom.cli import control

    assert control(class_host, typed).startswith(said), control(class_host, typed)


def test_typed_controls_add_up_and_honest_lifts_an_attack(class_host, tmp_path):
    from colearn_nb.flower.classroom.cli import control
    from colearn_nb.flower.deploy.results_files import ResultsFiles

    control(class_host, "attack 2 garbage")
    class_host.files = ResultsFiles(tmp_path / "results_1.json")  # a run under way: its ServerApp reads this
    control(class_host, "attack 0 sign-flip")
    assert class_host.files.read_controls() == ClassControls(0.5, {0: "sign-flip", 2: "garbage"})
    assert control(class_host, "honest 2") == ("from the next round: threshold 0.5; learner 0 proposes a "
                                               "sign-flipped update")
    control(class_host, "threshold 1")
    assert class_host.files.read_controls() == ClassControls(1.0, {0: "sign-flip"})


# round -> the controls the teacher has set when it begins: learner 2 garbage (it proposes in round 2), then
# learner 0 sign-flipped (round 3), then everyone honest with a threshold of 1 (learner 2 honest in round 5)
SCRIPT = [ClassControls(0.5, {2: "garbage"})] * 3 + [ClassControls(0.5, {0: "sign-flip"})] \
    + [ClassControls(1.0)] * 2


def test_flower_follows_the_teachers_controls_round_by_round():
    pytest.importorskip("flwr")
    from colearn_nb.flower import MnistLearnerFactory, run_flower_simulation
    from colearn_nb.pytorch.seeding import seed_everything

    factory, asked = MnistLearnerFactory(n_learners=3), iter(SCRIPT)
    results = run_flower_simulation(factory, 3, len(SCRIPT), vote_threshold=0.5, timeout=120,
                                    backend="in-process", controls=lambda: next(asked))
    seed_everything(factory.seed)
    assert results == rounds_under([factory(i) for i in range(3)], SCRIPT)
    garbage, flipped, honest = results.data[3], results.data[4], results.data[6]
    assert garbage.training_summaries == [{"attack": "random weights"}]  # the proposal's summary
    assert not garbage.vote and garbage.votes == [False, False, None], "the others vote the garbage down"
    assert flipped.training_summaries[0]["attack"] == "sign-flipped update" and not flipped.vote
    assert "attack" not in (honest.training_summaries[0] or {}) and honest.vote_threshold == 1.0
    assert [r.attacks for r in results.data[1:]] == [c.attack_list(3) for c in SCRIPT]
