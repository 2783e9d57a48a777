"""Differentially private training for ``PytorchLearner`` with opacus (an optional dependency).

The proposer trains with DP-SGD: every sample's gradient is clipped to ``max_grad_norm``,
Gaussian noise of ``noise_multiplier * max_grad_norm`` is added, and each batch is a Poisson
sample of the learner's training data. An RDP accountant tracks the epsilon spent at
``target_delta``; a learner that would go past ``target_epsilon`` stops training and proposes
its current weights unchanged (``DP_BUDGET_EXCEEDED``).

Taught in notebook 10.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from ..protocol.checks import check_number
from ..protocol.results import DP_BUDGET_EXCEEDED

INSTALL_HINT = "differential privacy needs opacus: pip install opacus (or pip install -e '.[privacy]')"


@dataclass(frozen=True)
class DiffPrivConfig:
    """A learner's privacy budget and DP-SGD settings.

    >>> DiffPrivConfig(target_epsilon=5.0, target_delta=1e-5, max_grad_norm=1.0, noise_multiplier=1.1)
    DiffPrivConfig(target_epsilon=5.0, target_delta=1e-05, max_grad_norm=1.0, noise_multiplier=1.1)
    """

    target_epsilon: float
    target_delta: float
    max_grad_norm: float
    noise_multiplier: float

    def __post_init__(self):
        check_number("target_epsilon", self.target_epsilon, 0, low_open=True, hint=", e.g. 5.0")
        check_number("target_delta", self.target_delta, 0, 1, low_open=True, high_open=True,
                     hint=", e.g. 1e-5")
        check_number("max_grad_norm", self.max_grad_norm, 0, low_open=True, hint=", e.g. 1.0")
        check_number("noise_multiplier", self.noise_multiplier, 0, low_open=True, hint=", e.g. 1.1")


def opacus_available() -> bool:
    """True when opacus can be imported."""
    try:
        import opacus  # noqa: F401
    except ImportError:
        return False
    return True


class PoissonLoader:
    """Batches holding each sample independently with probability ``sample_rate`` (DP-SGD's sampling).

    >>> loader = PoissonLoader(torch.zeros(100, 2), torch.zeros(100), sample_rate=0.25, seed=0)
    >>> len(loader), [len(y) for _, y in loader][:3]
    (4, [30, 26, 26])
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, sample_rate: float, seed: int = 0):
        check_number("sample_rate", sample_rate, 0, 1, low_open=True)
        self.inputs, self.labels, self.sample_rate = inputs, labels, sample_rate
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return max(1, round(1 / self.sample_rate))

    def __repr__(self) -> str:
        return f"PoissonLoader({len(self.labels)} samples, sample_rate={self.sample_rate:.4g})"

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(len(self)):
            chosen = torch.rand(len(self.labels), generator=self.generator) < self.sample_rate
            yield self.inputs[chosen], self.labels[chosen]


def poisson_loader(train_loader: Any, seed: int) -> PoissonLoader:
    """A Poisson-sampling loader over the samples of ``train_loader`` (``TensorLoader`` or ``DataLoader``)."""
    from .splitting import dataset_tensors

    if hasattr(train_loader, "inputs") and hasattr(train_loader, "labels"):
        inputs, labels = train_loader.inputs, train_loader.labels
    elif hasattr(train_loader, "dataset") and hasattr(train_loader, "batch_size") and train_loader.batch_size:
        inputs, labels = dataset_tensors(train_loader.dataset)
    else:
        raise ValueError(f"train_loader: got {type(train_loader).__name__}; differential privacy needs a "
                         "TensorLoader or a torch DataLoader with a batch_size, "
                         "to sample batches from its data")
    return PoissonLoader(inputs, labels, min(1.0, train_loader.batch_size / len(labels)), seed)


class PrivateTraining:
    """DP-SGD for one model: the private optimizer and Poisson loader a learner trains with, and the accounts.

    Built by ``PytorchLearner`` from its own model, optimizer and training loader; it wraps them
    (opacus's ``GradSampleModule`` hooks on the model, a ``DPOptimizer`` around the optimizer) and
    changes no other object's attributes. ``quiet()`` silences opacus's per-batch hook warning while
    training, for that block only.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_loader: Any,
                 config: DiffPrivConfig, seed: int | None = None):
        try:
            from opacus import GradSampleModule
            from opacus.accountants import RDPAccountant
            from opacus.optimizers import DPOptimizer
            from opacus.validators import ModuleValidator
        except ImportError as exc:
            raise ImportError(f"diff_priv_config: {INSTALL_HINT}") from exc
        if not isinstance(config, DiffPrivConfig):
            raise ValueError(f"diff_priv_config: got {type(config).__name__}; "
                             "expected a DiffPrivConfig or None")
        ModuleValidator.validate(model, strict=True)
        seed = int(torch.randint(0, 2**62, ()).item()) if seed is None else seed
        self.loader = poisson_loader(train_loader, seed)
        self.config, self.accountant, self.sample_rate = config, RDPAccountant(), self.loader.sample_rate
        self.grad_sample_module = GradSampleModule(model)  # hooks on the model's own layers
        expected_batch_size = max(1, round(self.sample_rate * len(self.loader.labels)))
        self.optimizer = DPOptimizer(optimizer, noise_multiplier=config.noise_multiplier,
                                     max_grad_norm=config.max_grad_norm,
                                     expected_batch_size=expected_batch_size)
        self.optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=self.sample_rate))

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Inside the block only, hide opacus's "Full backward hook is firing" warning (one per batch)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
            yield

    def __repr__(self) -> str:
        return f"PrivateTraining(epsilon {self.epsilon():.3g} of {self.config.target_epsilon:.3g} spent)"

    def epsilon(self, extra_steps: int = 0) -> float:
        """Epsilon spent so far at ``target_delta``, or after ``extra_steps`` more training batches."""
        from opacus.accountants import RDPAccountant

        history = list(self.accountant.history)
        if extra_steps:
            history.append((self.config.noise_multiplier, self.sample_rate, extra_steps))
        if not history:
            return 0.0
        accountant = RDPAccountant()
        accountant.history = history
        return float(accountant.get_epsilon(self.config.target_delta))

    def steps_per_training(self, num_train_batches: int | None) -> int:
        """Number of batches one proposal trains on, at most ``num_train_batches`` (None: all)."""
        n_batches = len(self.loader)
        return min(n_batches, num_train_batches or n_batches)

    def budget_exceeded(self, num_train_batches: int | None) -> bool:
        """True when one more proposal would spend more than ``target_epsilon``."""
        return self.epsilon(self.steps_per_training(num_train_batches)) > self.config.target_epsilon

    def budget(self) -> dict[str, float]:
        """Target and consumed epsilon and delta, as plain numbers."""
        spent = self.epsilon()
        return {"target_epsilon": self.config.target_epsilon, "consumed_epsilon": spent,
                "target_delta": self.config.target_delta,
                "consumed_delta": self.config.target_delta if spent > 0 else 0.0}

    def refusal_summary(self, num_train_batches: int | None) -> dict[str, Any]:
        """The training summary of a learner that proposes its current weights: its budget is used up."""
        return {"n_train_batches": 0, "dp_budget": self.budget(), "error_code": DP_BUDGET_EXCEEDED,
                "message": (f"privacy budget used up: one more training would spend epsilon "
                            f"{self.epsilon(self.steps_per_training(num_train_batches)):.3g} > target "
                            f"{self.config.target_epsilon:.3g}; proposing the current weights unchanged")}
