"""What the live plot costs: its share of a 10-learner, 100-round run, and memory over many updates.

    python benchmarks/live_plot.py [--n-learners 10] [--n-rounds 100] [--n-updates 500]

Frames go to an in-memory sink (what the Dashboard's picture widget receives); a notebook's display
handle gets the same PNG bytes. Targets: drawing at most 5% of the run at default settings, and
memory flat over the updates (growth after the first 100 updates well under 10 MB).
"""
from __future__ import annotations

import argparse
import os
import time

from colearn_nb import LivePlot, Results, make_mnist_learners, run_rounds, seed_everything


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def timed_run(n_learners: int, n_rounds: int, live: LivePlot | None) -> tuple[Results, float]:
    """The same seeded run, with or without the live plot; returns results and seconds."""
    seed_everything(0)
    learners = make_mnist_learners(n_learners=n_learners)
    start = time.perf_counter()
    results = run_rounds(learners, n_rounds, on_round=live)
    return results, time.perf_counter() - start


def share_of_run(n_learners: int, n_rounds: int) -> Results:
    """Print the live plot's share of the run, measured two ways."""
    frames = []
    live = LivePlot(score_name="categorical accuracy", on_frame=frames.append)
    results, with_plot_s = timed_run(n_learners, n_rounds, live)
    _, without_plot_s = timed_run(n_learners, n_rounds, None)
    print(f"{n_learners} learners x {n_rounds} rounds: {with_plot_s:.1f} s with the live plot, "
          f"{without_plot_s:.1f} s without ({without_plot_s / n_rounds:.3f} s a round)")
    print(f"  frames drawn: {live.n_frames}, {live.seconds_drawing:.2f} s drawing, "
          f"{live.seconds_drawing / live.n_frames:.3f} s a frame, last frame {len(frames[-1]) / 1e3:.0f} kB")
    print(f"  drawing / whole run (measured by LivePlot): {live.seconds_drawing / with_plot_s:.3f} "
          "(target <= 0.05)")
    print(f"  (with - without) / with, wall clock:        {(with_plot_s - without_plot_s) / with_plot_s:.3f} "
          "(noisy where other work shares the machine)")
    return results


def memory_over_updates(results: Results, n_updates: int) -> None:
    """Print memory after the first 100 updates and after all, every update drawing a frame."""
    live = LivePlot(score_name="categorical accuracy", min_interval=0, max_share=1.0,
                    on_frame=lambda frame: None)
    checkpoints = {}
    start = time.perf_counter()
    for update in range(1, n_updates + 1):
        live.update(Results(results.data[:2 + update % (len(results.data) - 1)]))
        if update in (100, n_updates):
            checkpoints[update] = rss_mb()
    elapsed = time.perf_counter() - start
    growth = checkpoints[n_updates] - checkpoints[100]
    print(f"{n_updates} unthrottled updates ({elapsed / n_updates:.3f} s each): resident memory "
          f"{checkpoints[100]:.0f} MB after 100, {checkpoints[n_updates]:.0f} MB after {n_updates}, "
          f"growth {growth:+.1f} MB = {growth / checkpoints[100]:+.1%} (target: flat)")


def main() -> None:
    """Run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-learners", type=int, default=10)
    parser.add_argument("--n-rounds", type=int, default=100)
    parser.add_argument("--n-updates", type=int, default=500)
    args = parser.parse_args()
    if args.n_updates < 100:
        parser.error(f"--n-updates: got {args.n_updates}; expected at least 100")
    results = share_of_run(args.n_learners, args.n_rounds)
    memory_over_updates(results, args.n_updates)


if __name__ == "__main__":
    main()
