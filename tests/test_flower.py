"""Collective learning on Flower: a simulation and a loopback deployment give the in-process Results."""
import os
import sys

import pytest

pytest.importorskip("flwr", reason="Flower is not installed: pip install -e .[flower]")

from flower.processes import flower_processes, left_running  # noqa: E402

from colearn_nb import Results, run_rounds  # noqa: E402
from colearn_nb.flower import (  # noqa: E402
    ClientAppWorker,
    LoopbackFederation,
    MnistLearnerFactory,
    run_flower_simulation,
    write_flower_app,
)
from colearn_nb.flower.deploy.credentials import make_node_keys  # noqa: E402
from colearn_nb.flower.deploy.loopback import CLIENT_APP  # noqa: E402
from colearn_nb.flower.deploy.worker import main as worker_main  # noqa: E402
from colearn_nb.flower.environment import QUIET_ENVIRONMENT  # noqa: E402
from colearn_nb.pytorch.seeding import seed_everything  # noqa: E402

N_LEARNERS, N_ROUNDS = 3, 2


@pytest.fixture(autouse=True)
def quiet_flower(tmp_path_factory, monkeypatch):
    """FLWR_HOME in a temporary folder; telemetry, update checks and runtime installs off."""
    monkeypatch.setenv("FLWR_HOME", str(tmp_path_factory.mktemp("flwr_home")))
    for name, value in QUIET_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def in_process_results(factory: MnistLearnerFactory, n_rounds: int) -> Results:
    """The reference: the same learners driven by the in-process round functions."""
    seed_everything(factory.seed)
    learners = [factory(i) for i in range(factory.n_learners)]
    return run_rounds(learners, n_rounds, vote_threshold=0.5)


def test_simulation_gives_the_in_process_results():
    factory = MnistLearnerFactory(n_learners=N_LEARNERS)
    before = flower_processes()
    results = run_flower_simulation(factory, N_LEARNERS, N_ROUNDS, vote_threshold=0.5, timeout=120)
    expected = in_process_results(factory, N_ROUNDS)
    assert len(results) == N_ROUNDS + 1
    assert results.to_dict() == expected.to_dict()
    assert [r.block_proposer for r in results.data] == [None, 0, 1]
    assert left_running(before) == set(), "the simulation left Flower or Ray processes running"
    assert os.environ["FLWR_HOME"] not in ("", os.path.expanduser("~/.flwr"))


def test_bad_counts_are_refused_before_flower_starts():
    with pytest.raises(ValueError, match="n_learners: got 1"):
        run_flower_simulation(MnistLearnerFactory(n_learners=2), 1, 2)
    with pytest.raises(ValueError, match="n_rounds: got -1"):
        run_flower_simulation(MnistLearnerFactory(n_learners=2), 2, -1)


def test_loopback_deployment_with_tls_and_registered_supernodes(tmp_path):
    """A SuperLink and 3 SuperNodes as processes on 127.0.0.1;
    a SuperNode with an unregistered key is refused.

    A run whose ClientApp fails ends with that reason, and the nodes' workers serve the next run.
    """
    before = flower_processes()
    federation = LoopbackFederation(tmp_path / "federation", n_learners=N_LEARNERS)
    try:
        federation.start()
        stranger_key, _ = make_node_keys(tmp_path / "stranger", "stranger")  # made, never registered
        stranger = federation.start_supernode(0, stranger_key, max_retries=0)
        with pytest.raises(RuntimeError, match="failed on 'query.hello'.*Invalid learning rate"):
            federation.run(n_rounds=1, timeout=240, learning_rate=-1.0)  # no node can build its learner
        results = federation.run(n_rounds=1, timeout=240)
        stranger.wait(timeout=60)
    finally:
        federation.close()
    logs = federation.directory / "logs"
    assert results.to_dict() == in_process_results(MnistLearnerFactory(n_learners=N_LEARNERS), 1).to_dict()
    superlink_log = (logs / "superlink.log").read_text()
    assert f"running on https://127.0.0.1:{federation.port}" in superlink_log
    assert stranger.returncode != 0
    assert "Failed to activate SuperNode" in (logs / "supernode_0_stranger.log").read_text()
    assert "No SuperNode found with the given public key" in superlink_log
    failures = 0
    for partition_id in range(N_LEARNERS):  # every message went through the node's one long-lived worker
        answered = (logs / f"supernode_{partition_id}_node{partition_id}.log").read_text()  # its thread
        # 1 if it was connected for the failed run
        failed = answered.count("the ClientApp raised an exception")
        failures += failed
        assert answered.count("answered query.hello") == 1 + failed
        assert answered.index(f"{CLIENT_APP} ready in") < answered.index("answered query.hello")  # warm
        assert "the worker and this SuperNode wake each other" in answered  # worker.Nudges
        assert answered.count("answered query.init") == 1
        assert answered.count("answered train") == (partition_id == 0)
        assert answered.count("answered evaluate") == (partition_id != 0)
    assert failures >= 1
    assert "answered" not in (logs / "supernode_0_stranger.log").read_text()
    assert not list(logs.glob("worker_*.log")), "the workers run in their SuperNodes' processes"
    assert all(process.poll() is not None for process in federation.processes)
    assert left_running(before) == set(), "the deployment left Flower processes running"


def app_bundle(directory, client_app: str):
    """A real Flower app bundle (FAB) of the MNIST app, its ``clientapp`` set to ``client_app``."""
    import hashlib

    from flwr.cli.build import build_fab_from_disk
    from flwr.supercore.fab import Fab

    app = write_flower_app(directory, n_learners=2, n_rounds=1)
    toml = (app / "pyproject.toml").read_text()
    (app / "pyproject.toml").write_text(toml.replace(CLIENT_APP, client_app))
    content = build_fab_from_disk(app)
    return Fab(hashlib.sha256(content).hexdigest(), content, {})


@pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning")  # Flower's bundle builder
def test_a_pinned_worker_runs_only_its_own_clientapp(tmp_path):
    from flwr.clientapp import ClientApp

    worker = ClientAppWorker("127.0.0.1:9094", app=CLIENT_APP)
    worker.warm_up()  # what the worker does as it starts, before any run: the class then finds it ready
    assert isinstance(worker.loaded, ClientApp)
    assert worker.client_app(None, app_bundle(tmp_path / "ours", CLIENT_APP)) is worker.loaded
    with pytest.raises(PermissionError,
                       match=f"runs only {CLIENT_APP}; the run's app bundle names evil.app:client"):
        worker.client_app(None, app_bundle(tmp_path / "theirs", "evil.app:client"))
    assert len(worker.apps) == 1 and "evil" not in sys.modules


@pytest.mark.filterwarnings("ignore:GitWildMatchPattern:DeprecationWarning")  # Flower's bundle builder
def test_a_worker_whose_app_does_not_import_lives_on_to_answer_with_the_error(tmp_path, caplog):
    """A SuperNode's worker thread must not die at start-up: the class would wait for it instead of
    recording its learner missing with the reason."""
    missing_app = "colearn_nb_no_such_module:client_app"
    worker = ClientAppWorker("127.0.0.1:9094", app=missing_app)
    worker.warm_up()
    assert worker.loaded is None and f"importing {missing_app} failed" in caplog.text
    with pytest.raises(ModuleNotFoundError, match="colearn_nb_no_such_module"):  # run_task answers with it
        worker.client_app(None, app_bundle(tmp_path / "missing", missing_app))


def test_a_worker_builds_its_learner_as_soon_as_its_laptop_joins():
    """Given its SuperNode's node config, ``warm_up`` builds the learner; the run takes that very learner,
    with the random generators as a build at that moment would leave them."""
    import torch

    import colearn_nb.flower.mnist_app as mnist_app

    ClientAppWorker("127.0.0.1:9094", app=CLIENT_APP, node_config={"partition-id": 1, "num-partitions": 2}
                    ).warm_up()
    ahead = mnist_app._AHEAD[(MnistLearnerFactory(n_learners=2), 1)][0]
    run_config = {"n-learners": 2, "n-rounds": 3, "seed": 0, "learning-rate": 0.001, "vote-threshold": 0.5}
    torch.rand(5)  # anything drawn between the join and the run does not count
    learner, drawn = mnist_app._learner_from_run_config(1, run_config), torch.rand(3)
    fresh, fresh_drawn = MnistLearnerFactory(n_learners=2)(1), torch.rand(3)
    assert learner is ahead and not mnist_app._AHEAD and torch.equal(drawn, fresh_drawn)
    built, rebuilt = learner.mli_get_current_weights().weights, fresh.mli_get_current_weights().weights
    assert built.keys() == rebuilt.keys() and all(torch.equal(built[k], rebuilt[k]) for k in built)
    assert mnist_app._learner_from_run_config(1, {**run_config, "seed": 1}) is not ahead  # another learner
    failing = ClientAppWorker("127.0.0.1:9094", app=CLIENT_APP, node_config={"num-partitions": 2})
    failing.warm_up()  # no partition id: only a head start lost, logged; the run builds its learner
    assert failing.loaded is not None and not mnist_app._AHEAD


def test_worker_command_line_refuses_bad_settings(capsys):
    with pytest.raises(SystemExit):
        worker_main(["--nodes-dir", "nodes"])
    assert "--nodes-dir: needs --app" in capsys.readouterr().err
    for argv, complaint in ((["--app", "colearn_nb.flower.mnist_app"],
                             "--app: got 'colearn_nb.flower.mnist_app'"),
                            (["--poll-interval", "0"], "--poll-interval: got 0.0")):
        with pytest.raises(SystemExit):
            worker_main(["--runtime-api-address", "127.0.0.1:9094", *argv])
        assert complaint in capsys.readouterr().err


def test_flower_processes_run_without_the_colours_a_notebook_kernel_forces(monkeypatch, tmp_path):
    """A Jupyter kernel sets FORCE_COLOR and CLICOLOR_FORCE; ``flwr``'s JSON answers must stay plain."""
    for forcing in ("FORCE_COLOR", "CLICOLOR_FORCE", "CLICOLOR"):
        monkeypatch.setenv(forcing, "1")
    environment = LoopbackFederation(tmp_path).environment()
    assert environment["NO_COLOR"] == "1"
    assert not {"FORCE_COLOR", "CLICOLOR_FORCE", "CLICOLOR"} & set(environment)


def test_supernodes_poll_every_half_second_instead_of_flowers_3_s(monkeypatch):
    """``deploy.supernode`` shortens the idle sleep of Flower's SuperNode loop; any other sleep is kept."""
    import inspect
    import time

    from flwr.supernode import start_client_internal as loop

    from colearn_nb.flower.deploy import supernode

    assert "time.sleep(3)" in inspect.getsource(loop), "Flower's idle sleep changed: see supernode.py again"
    monkeypatch.setattr(loop, "time", loop.time)  # put back after the test
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    assert supernode.poll_quicker() and isinstance(loop.time, supernode.QuickerIdle)
    loop.time.sleep(3)
    loop.time.sleep(0.5 * 3)
    assert slept == [supernode.POLL_S, 1.5] and loop.time.monotonic() > 0
    assert supernode.poll_quicker() and isinstance(loop.time, supernode.QuickerIdle), "twice: still patched"
    monkeypatch.setattr(loop, "time", None)  # a Flower whose loop has no time module: its own 3 s, said
    assert not supernode.poll_quicker()


def test_a_supernode_and_its_worker_thread_wake_each_other(monkeypatch):
    """With ``Nudges``, a stored message wakes the worker and a pushed reply ends the SuperNode's wait."""
    import inspect
    import threading
    import time

    from flwr.supernode import start_client_internal as loop

    from colearn_nb.flower.deploy import supernode
    from colearn_nb.flower.deploy.worker import Nudges

    assert "time.sleep(0.5)" in inspect.getsource(loop._push_messages), "Flower's reply wait changed"
    monkeypatch.setattr(loop, "time", loop.time)
    monkeypatch.setattr(loop, "_pull_and_store_message", lambda **kwargs: kwargs["run_id"])
    nudges = Nudges()
    assert supernode.poll_quicker(nudges) and supernode.poll_quicker(nudges), "twice: wraps Flower's own once"
    assert loop._pull_and_store_message(run_id=None) is None and not nudges.pulled.is_set()
    assert loop._pull_and_store_message(run_id=7) == 7 and nudges.pulled.is_set()
    threading.Timer(0.05, nudges.replied.set).start()  # the worker pushes its reply 0.05 s from now
    started = time.monotonic()
    loop.time.sleep(0.5)  # Flower's wait for the reply
    assert time.monotonic() - started < 0.4 and not nudges.replied.is_set()
    started = time.monotonic()
    loop.time.sleep(0.5)  # no reply comes: Flower's own half second
    assert 0.45 < time.monotonic() - started < 2
    monkeypatch.delattr(loop, "_pull_and_store_message")  # a Flower without it: the worker keeps polling
    assert not supernode.poll_quicker(Nudges())
