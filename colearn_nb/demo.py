"""The main job: the tutorial's experiment end to end, without a screen.

    python -m colearn_nb.demo --n-learners 5 --n-rounds 20 --output-dir output
Notebook 05 is the same run, step by step.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .protocol.checks import check_vote_threshold
from .protocol.loop import run_rounds, start_results
from .protocol.report import print_results
from .protocol.results import Results
from .pytorch.seeding import seed_everything
from .tutorial.factory import make_mnist_learners
from .viz.plots import plot_results, plot_votes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m colearn_nb.demo", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-learners", type=int, default=5, help="number of learners (at least 2)")
    parser.add_argument("--n-rounds", type=int, default=20, help="number of collective-learning rounds")
    parser.add_argument("--vote-threshold", type=float, default=0.5,
                        help="share of yes votes needed, in [0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="one seed for data split, weights and shuffling")
    parser.add_argument("--output-dir", type=Path, default=Path("output"),
                        help="where results.json and plots go")
    parser.add_argument("--data-dir", default=None, help="torchvision MNIST root (default: $PYTORCH_DATA_DIR "
                        "or ~/pytorch_datasets); without it the shipped 5,000 digits are used")
    parser.add_argument("--download", action="store_true", help="try to download torchvision's full MNIST")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Results:
    """Run the experiment, print each round, write results.json, scores.png and votes.png."""
    if args.n_rounds < 1:
        raise SystemExit(f"--n-rounds: got {args.n_rounds}; expected at least 1")
    check_vote_threshold(args.vote_threshold)
    seed_everything(args.seed)
    learners = make_mnist_learners(args.n_learners, seed=args.seed, root=args.data_dir,
                                   download=args.download)
    results = start_results(learners)
    print_results(results)
    run_rounds(learners, args.n_rounds, args.vote_threshold, results=results, on_round=print_results)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    results.save(args.output_dir / "results.json")
    plot_results(results, score_name="categorical accuracy").savefig(args.output_dir / "scores.png")
    plot_votes(results).savefig(args.output_dir / "votes.png")
    return results


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m colearn_nb.demo``."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        results = run(args)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"\n{results.n_accepted} proposals accepted, {results.n_rejected} rejected; results and plots in "
          f"{args.output_dir}/")
    print(f"Final mean test accuracy of the shared model: {results.shared_model_scores[-1]:.4f}")


if __name__ == "__main__":
    main()
