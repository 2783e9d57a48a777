"""The classroom on one host's loopback, driven by the teacher's projector page (notebook 13).

Needs no root (tests/test_classroom.py runs the commands across network namespaces): the ``Projector``
opens a ``ClassHost`` on 127.0.0.1 for 3 learners, two pretend laptops join, a spoofed fingerprint is
refused, the teacher starts with the two who are in, a late laptop is refused, and the class's rounds reach
the page's plot, status and roster as they complete, equal to the in-process run. The join line's token
(join code and the first 60 bits of the class CA's fingerprint) is checked on its own first.
"""
import os
import re
import time

import pytest

pytest.importorskip("flwr")
pytest.importorskip("ipywidgets")

from colearn_nb import Projector, Results, run_rounds  # noqa: E402
from colearn_nb.flower import MnistLearnerFactory  # noqa: E402
from colearn_nb.flower.classroom import (  # noqa: E402
    ClassHost,
    JoinError,
    Participant,
    PretendRoom,
    certificate_fingerprint,
    join_token,
    split_token,
)
from colearn_nb.flower.classroom.cli import main as classroom_command  # noqa: E402
from colearn_nb.flower.classroom.host import CODE_ALPHABET, fingerprint_matches  # noqa: E402
from colearn_nb.flower.deploy.credentials import make_tls_files  # noqa: E402
from colearn_nb.flower.deploy.loopback import free_port  # noqa: E402
from colearn_nb.pytorch.seeding import seed_everything  # noqa: E402

N_JOINING, N_ROUNDS = 2, 2


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def in_process_results() -> Results:
    seed_everything(0)
    factory = MnistLearnerFactory(n_learners=N_JOINING)
    return run_rounds([factory(i) for i in range(N_JOINING)], N_ROUNDS, vote_threshold=0.5)


def test_the_join_token_is_the_code_then_60_bits_of_the_ca_fingerprint(tmp_path):
    pems = [make_tls_files(tmp_path / name).ca_certificate.read_bytes() for name in ("class", "forged")]
    token = join_token("K7Q2PX9M", pems[0])
    assert re.fullmatch(r"K7Q2-PX9M(-[A-HJ-NP-Z2-9]{4}){3}", token), token
    code, fingerprint = split_token(token.lower().replace("-", " "))  # as a participant may type it
    letters_as_bits = sum(CODE_ALPHABET.index(letter) << 5 * (11 - i) for i, letter in enumerate(fingerprint))
    assert code == "K7Q2PX9M" and letters_as_bits == int(certificate_fingerprint(pems[0]), 16) >> 196
    assert fingerprint_matches(pems[0], fingerprint) and not fingerprint_matches(pems[1], fingerprint)
    with pytest.raises(ValueError, match=r"no 0, 1, I or O; not 0, O\)"):
        split_token("K7Q2-PX9M-3F2A-9C0B-7E5O")
    with pytest.raises(ValueError, match=r"\(16 letters\); expected the join line's last part, 20 letters"):
        split_token("K7Q2-PX9M-3F2A-9C4B")  # a group left out
    with pytest.raises(ValueError, match="expected 8 of the letters"):
        ClassHost(tmp_path / "host", n_learners=2, address="127.0.0.1", join_code="k7q2-px9m")


def test_join_without_the_token_says_what_to_copy(capsys):
    with pytest.raises(SystemExit):
        classroom_command(["join", "192.168.1.20"])
    assert "token: missing; copy the whole join line" in capsys.readouterr().err


def test_the_projector_rehearses_a_class_and_shows_it_round_by_round(tmp_path):
    room = PretendRoom()  # the pretend laptops' learners share one worker process
    projector = Projector(open_class=ClassHost, pretend_laptop=room, address="127.0.0.1",
                          port=free_port(), n_learners=3, n_rounds=N_ROUNDS, round_deadline=60,
                          pretend_laptops=N_JOINING, directory=tmp_path / "host",
                          results_path=tmp_path / "results.json", refresh_s=1.0)
    frames, statuses = [], []
    projector.plot.observe(lambda change: frames.append(change["new"]), "value")
    projector.status.observe(lambda change: statuses.append(change["new"]), "value")
    assert projector.open() and not projector.open(), "a second open while the class is open does nothing"
    assert projector.form["n_learners"].disabled and not projector.start_button.disabled
    wait_until(lambda: projector.host is not None and len(projector.host.members) == N_JOINING, 240,
               "two pretend laptops joined")
    options = projector.host.join_options()
    shown = re.search(r"python -m colearn_nb join (\S+) (\S+)</pre>", projector.join.value)
    assert shown and shown.group(1) == options["address"], projector.join.value
    code, fingerprint = split_token(shown.group(2))
    assert code == options["code"]
    assert fingerprint_matches(projector.host.tls_files().ca_certificate.read_bytes(), fingerprint)
    other = "".join("B" if letter == "A" else "A" for letter in fingerprint)  # differs in every letter
    for spoofed in ("0" * 64, other):
        with pytest.raises(JoinError, match="not the class's"):
            Participant(tmp_path / "spoofed", **{**options, "ca_sha256": spoofed}).start()
    wait_until(lambda: "2 of 3 laptops joined" in projector.status.value, 30, "the page counts who is in")
    projector.start_now()  # the teacher does not wait for the third
    wait_until(lambda: "learners in" in projector.status.value, 30, "the rounds begin")
    with pytest.raises(JoinError, match="the class is full: 2 learners have joined"):  # pinned by the token
        Participant(tmp_path / "late", **{**options, "ca_sha256": fingerprint}).start()
    results = projector.wait(timeout=400)
    assert projector.error is None, projector.status.value
    assert results == in_process_results()
    assert Results.load(tmp_path / "results.json") == results
    assert any(status.startswith("Round 1: ") for status in statuses), statuses
    assert projector.status.value.startswith("Done. Round 1: ")
    assert len(set(frames)) >= 2 and frames[-1] == projector.live.last_frame, "the plot follows the rounds"
    roster = projector.roster.value
    assert roster.count("answered") == 2 and roster.count("online") == 2 and "pretend 1" in roster, roster
    assert not projector.form["n_learners"].disabled and projector.start_button.disabled
    assert all(process.poll() is not None for process in projector.host.processes)
    shared = (tmp_path / "host" / "pretend_worker" / "worker.log").read_text()
    assert shared.count("answered train") == N_ROUNDS and shared.count("answered query.init") == N_JOINING
    assert not list(tmp_path.glob("host/pretend*/logs/worker_*.log")), "no worker process of their own"
    assert room.process is None and not list(tmp_path.glob("host/pretend_worker/nodes/*.json")), room


@pytest.mark.parametrize("settings, message", [
    ({"address": " "}, "address: empty"),
    ({"pretend_laptops": 4}, r"pretend_laptops: got 4; expected an integer in \[0, 3\] \(at most "
                             "the number of learners"),
    ({"n_learners": 2, "pretend_laptops": 3}, r"pretend_laptops: got 3; expected an integer .*2"),
])
def test_a_wrong_setting_is_refused_before_anything_starts(tmp_path, settings, message):
    opened = []
    projector = Projector(open_class=lambda *args, **kwargs: opened.append(args), directory=tmp_path)
    with pytest.raises(ValueError, match=message):
        projector.open(**settings)
    assert opened == [] and not projector.running and projector.status.value.startswith("Not opened: ")


def test_pretend_laptops_need_a_way_to_make_them(tmp_path):
    projector = Projector(open_class=ClassHost, directory=tmp_path)
    with pytest.raises(ValueError, match="pretend_laptop=Participant"):
        projector.open(pretend_laptops=2)


def test_a_class_of_the_users_own_learners_and_the_teachers_garbage_round(tmp_path, monkeypatch):
    """``client_app``: the page opens a class of a user's ClientApp, its join line names it. Before the
    rounds the teacher sets learner 1 to propose garbage on the page's teach row: its round (1) is voted
    down, and the run equals the user's learners in one process with notebook 09's wrapper in that round."""
    import functools
    from pathlib import Path

    from controlled_rounds import rounds_under
    from user_learners import build

    from colearn_nb.protocol.class_controls import ClassControls

    tests = str(Path(__file__).parent)
    monkeypatch.syspath_prepend(tests)
    # the laptops' workers import the user's module as installed (and the kit as this test imports it)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])))
    projector = Projector(open_class=functools.partial(ClassHost, client_app="user_class_app:client_app"),
                          pretend_laptop=Participant, address="127.0.0.1", port=free_port(), n_learners=2,
                          n_rounds=N_ROUNDS, round_deadline=60, pretend_laptops=2,
                          directory=tmp_path / "host", results_path=tmp_path / "results.json")
    with pytest.raises(ValueError, match="teach: the class is not open; open it first"):
        projector.teach()
    projector.open()
    wait_until(lambda: projector.host is not None, 120, "the class is open")
    projector.teach_learner.value, projector.teach_attack.value = 1, "garbage"
    projector.teach_button.click()  # as the teacher does, before the rounds begin
    assert projector.teach_note.value == "From the next round: threshold 0.5; learner 1 proposes garbage"
    results = projector.wait(timeout=400)
    assert projector.error is None, projector.status.value
    assert " --app user_class_app:client_app</pre>" in projector.join.value, projector.join.value
    reference = rounds_under(build("mlp_adam")[:2], [ClassControls(0.5, {1: "garbage"})] * N_ROUNDS)
    # one proposal each: as in one process (longer runs of shuffled plain DataLoaders may differ: each
    # laptop draws its shuffles from its own global RNG)
    assert results == reference, results
    assert [r.block_proposer for r in results.data[1:]] == [0, 1]
    assert results.data[2].votes == [False, None] and not results.data[2].vote, "the garbage voted down"
    assert projector.status.value.startswith("Done. Round 1: learner 1 proposed garbage (the teacher&#x27;s "
                                             "attack), rejected (0 of 1 voted yes)"), projector.status.value
    with pytest.raises(ValueError, match="client_app: got 'user_class_app'; expected 'module:attribute'"):
        ClassHost(tmp_path / "bad", n_learners=2, address="127.0.0.1", client_app="user_class_app")
