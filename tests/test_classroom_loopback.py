"""The classroom on one host's loopback, from Python as notebook 12's projector cell drives it.

Needs no root (tests/test_classroom.py runs the commands across network namespaces): a ClassHost on
127.0.0.1, two Participants, a wrong fingerprint and a third laptop refused, then the class's rounds fed
to the notebook's ``LivePlot`` as they complete, equal to the in-process run.
"""
import threading

import pytest

pytest.importorskip("flwr")

from colearn_nb import LivePlot, Results, run_rounds  # noqa: E402
from colearn_nb.flower import MnistLearnerFactory  # noqa: E402
from colearn_nb.flower.classroom import ClassHost, JoinError, Participant  # noqa: E402
from colearn_nb.flower.deploy.loopback import free_port  # noqa: E402
from colearn_nb.pytorch.seeding import seed_everything  # noqa: E402

N_LEARNERS, N_ROUNDS = 2, 2


def join_options(host: ClassHost) -> dict:
    """The address, code and fingerprint of the host's join line, as Participant takes them."""
    words = host.join_line().split()
    return {"address": words[4], "code": words[6], "ca_sha256": words[8]}


def test_the_projector_gets_the_class_round_by_round_and_strangers_stay_out(tmp_path):
    seen: list[Results] = []
    live = LivePlot(score_name="categorical accuracy")

    def projector(results: Results) -> None:  # what notebook 12's cell passes: the live plot
        seen.append(results)
        live(results)

    with ClassHost(tmp_path / "host", n_learners=N_LEARNERS, address="127.0.0.1", port=free_port()) as host:
        options = join_options(host)
        with pytest.raises(JoinError, match="not the class's"):
            Participant(tmp_path / "spoofed", **{**options, "ca_sha256": "0" * 64}).start()
        laptops = [Participant(tmp_path / f"laptop{i}", **options, name=f"laptop{i}")
                   for i in range(N_LEARNERS)]
        try:
            threads = [threading.Thread(target=laptop.start) for laptop in laptops]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=180)
            assert host.wait_for_class(timeout=60) == N_LEARNERS
            with pytest.raises(JoinError, match="the class is full: 2 learners have joined"):
                Participant(tmp_path / "late", **options).start()
            assert sorted(m["name"] for m in host.members.values()) == ["laptop0", "laptop1"]
            assert [row["last_round"] for row in host.roster()] == [None, None]
            results = host.run_class(N_ROUNDS, round_deadline=60, on_round=projector)
            assert [row["last_round"] for row in host.roster(results)] == ["answered", "answered"]
        finally:
            for laptop in laptops:
                laptop.close()
    seed_everything(0)
    factory = MnistLearnerFactory(n_learners=N_LEARNERS)
    assert results == run_rounds([factory(i) for i in range(N_LEARNERS)], N_ROUNDS, vote_threshold=0.5)
    assert seen and seen[-1] == results and [len(r.data) for r in seen] == sorted({len(r.data) for r in seen})
    figure = live.finish(results)
    assert len(figure.axes) >= 2, "scores above, the vote matrix below"
    assert all(process.poll() is not None for laptop in laptops for process in laptop.processes)
