"""Round time of collective learning on Flower (simulation, loopback deployment)
against the in-process driver.

    python benchmarks/flower_rounds.py                        # 3 learners, 4 rounds, every mode
    python benchmarks/flower_rounds.py --modes in-process simulation

The workload is the tutorial's (``MnistLearnerFactory``: real MNIST, the tutorial's Net, batch 64,
Adam lr 1e-3, ``num_test_batches=2``), vote threshold 0.5, CPU. A round's time is the time between
the ends of two successive rounds (the first round, which follows the set-up, is not counted);
start-up is the time from the call to the end of the first round. Every mode's Results must equal
the in-process ones, otherwise the script stops. Deployment: a SuperLink and SuperNodes on
127.0.0.1 with TLS and SuperNode authentication: Flower's defaults (a new ClientApp process per
message, default polling), fast polling alone, and fast polling with a long-lived ClientApp worker
per SuperNode (``LoopbackFederation(fast=True, isolation="process")``, the default).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from colearn_nb import Results, collective_learning_round, initial_result, set_equal_weights
from colearn_nb.flower import (
    LoopbackFederation,
    MnistLearnerFactory,
    quiet_flower_environment,
    run_flower_simulation,
)
from colearn_nb.flower.deploy.results_files import ResultsFiles
from colearn_nb.pytorch.seeding import seed_everything

Timing = tuple[float, list[float]]  # (start-up seconds, per-round seconds)


def in_process(factory: MnistLearnerFactory, n_rounds: int) -> tuple[Results, Timing]:
    """The in-process driver on the same learners; its start-up and round times."""
    started = time.perf_counter()
    seed_everything(factory.seed)
    learners = [factory(i) for i in range(factory.n_learners)]
    set_equal_weights(learners)
    results, ends = Results([initial_result(learners)]), []
    for round_index in range(n_rounds):
        results.data.append(collective_learning_round(learners, 0.5, round_index))
        ends.append(time.perf_counter())
    return results, (ends[0] - started, [b - a for a, b in zip(ends, ends[1:], strict=False)])


def simulation(factory: MnistLearnerFactory, n_rounds: int) -> tuple[Results, Timing]:
    """``run_flower_simulation``; round ends seen by the ServerApp in this process."""
    started, ends = time.perf_counter(), []
    results = run_flower_simulation(factory, factory.n_learners, n_rounds,
                                    on_round=lambda _: ends.append(time.perf_counter()))
    return results, (ends[0] - started, [b - a for a, b in zip(ends, ends[1:], strict=False)])


def deployment(factory: MnistLearnerFactory, n_rounds: int, fast: bool, isolation: str,
               directory: Path) -> tuple[Results, Timing]:
    """A loopback deployment; round ends as written by the ServerApp next to its results."""
    started = time.time()
    with LoopbackFederation(directory, n_learners=factory.n_learners, fast=fast,
                            isolation=isolation) as federation:
        results = federation.run(n_rounds, seed=factory.seed, timeout=1800)
        ends = ResultsFiles.written_in(federation.directory)[-1].round_ends()[1:]
    return results, (ends[0] - started, [b - a for a, b in zip(ends, ends[1:], strict=False)])


def report(name: str, timing: Timing, reference: float) -> str:
    """One line: start-up, median round time and its ratio to the in-process round."""
    start_up, rounds = timing
    median = statistics.median(rounds)
    return (f"{name:<22} start-up {start_up:7.1f} s   round median {median:7.2f} s "
            f"(min {min(rounds):.2f}, max {max(rounds):.2f})   ratio to in-process {median / reference:8.1f}")


def main(argv: list[str] | None = None) -> None:
    """Run every mode and print start-up, round times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-learners", type=int, default=3)
    parser.add_argument("--n-rounds", type=int, default=4, help="rounds per mode (at least 3)")
    parser.add_argument("--modes", nargs="+", default=["in-process", "simulation", "deployment-default",
                                                       "deployment-fast", "deployment-worker"])
    args = parser.parse_args(argv)
    if args.n_rounds < 3:
        parser.error(f"--n-rounds: got {args.n_rounds}; expected at least 3 (the first round is not timed)")
    workdir = Path(tempfile.mkdtemp(prefix="flower_rounds_"))
    quiet_flower_environment(workdir / "flwr_home")
    factory = MnistLearnerFactory(n_learners=args.n_learners)
    expected, timing = in_process(factory, args.n_rounds)
    reference = statistics.median(timing[1])
    print(report("in-process", timing, reference), flush=True)
    runs: dict[str, object] = {
        "simulation": lambda: simulation(factory, args.n_rounds),
        "deployment-default":
            lambda: deployment(factory, args.n_rounds, False, "subprocess", workdir / "default"),
        "deployment-fast": lambda: deployment(factory, args.n_rounds, True, "subprocess", workdir / "fast"),
        "deployment-worker": lambda: deployment(factory, args.n_rounds, True, "process", workdir / "worker")}
    for mode in [m for m in args.modes if m != "in-process"]:
        results, timing = runs[mode]()
        if results.to_dict() != expected.to_dict():
            raise SystemExit(f"{mode}: the Results differ from the in-process run; the comparison is void")
        print(report(mode, timing, reference), flush=True)


if __name__ == "__main__":
    main()
