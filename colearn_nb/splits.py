"""How data is shared out between learners: a table of sizes and per-learner label histograms."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .data import LearnerLoaders
from .plot import new_figure


def split_sizes(loaders: Sequence[LearnerLoaders]) -> List[Dict[str, int]]:
    """One row per learner: the number of train, vote and test samples.

    >>> from colearn_nb.data import TensorLoader
    >>> part = LearnerLoaders(*(TensorLoader(torch.zeros(n, 1), torch.zeros(n)) for n in (8, 3, 2)))
    >>> split_sizes([part])
    [{'learner': 0, 'train': 8, 'vote': 3, 'test': 2}]
    """
    return [{"learner": i, "train": len(p.train.labels), "vote": len(p.vote.labels), "test": len(p.test.labels)}
            for i, p in enumerate(loaders)]


def format_split_table(loaders: Sequence[LearnerLoaders]) -> str:
    """The sizes of every learner's data as a text table, with a total row."""
    rows = split_sizes(loaders)
    lines = [f"{'learner':>7}  {'train':>6}  {'vote':>6}  {'test':>6}"]
    lines += [f"{r['learner']:>7}  {r['train']:>6}  {r['vote']:>6}  {r['test']:>6}" for r in rows]
    totals = {k: sum(r[k] for r in rows) for k in ("train", "vote", "test")}
    lines.append(f"{'total':>7}  {totals['train']:>6}  {totals['vote']:>6}  {totals['test']:>6}")
    return "\n".join(lines)


def label_counts(labels: torch.Tensor, n_classes: int = 10) -> np.ndarray:
    """How many times each class appears in ``labels``.

    >>> label_counts(torch.tensor([0, 2, 2]), n_classes=3).tolist()
    [1, 0, 2]
    """
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes: got {n_classes!r}; expected an integer >= 1")
    return np.bincount(labels.cpu().numpy().astype(np.int64), minlength=n_classes)[:n_classes]


def plot_label_histograms(loaders: Sequence[LearnerLoaders], n_classes: int = 10, part: str = "train",
                          ax: Optional[Axes] = None) -> Figure:
    """Grouped bars: for each class, how many ``part`` ("train", "vote" or "test") samples each learner holds."""
    if part not in LearnerLoaders._fields:
        raise ValueError(f"part: got {part!r}; expected one of {LearnerLoaders._fields}")
    ax = ax or new_figure(figsize=(9, 3.5), layout="constrained").add_subplot()
    width = 0.8 / max(len(loaders), 1)
    for i, learner_data in enumerate(loaders):
        counts = label_counts(getattr(learner_data, part).labels, n_classes)
        ax.bar(np.arange(n_classes) + (i - (len(loaders) - 1) / 2) * width, counts, width, label=f"learner {i}")
    ax.set_xticks(range(n_classes))
    ax.set_xlabel("label")
    ax.set_ylabel(f"{part} samples")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax.figure
