"""Differentially private training for ``PytorchLearner`` with opacus (an optional dependency).

The proposer trains with DP-SGD: every sample's gradient is clipped to ``max_grad_norm``,
Gaussian noise of ``noise_multiplier * max_grad_norm`` is added, and each batch is a Poisson
sample of the learner's training data (opacus's ``PrivacyEngine.make_private`` builds all three).
An RDP accountant tracks the epsilon spent at ``target_delta``; a learner that would go past
``target_epsilon`` stops training and proposes its current weights unchanged (``DP_BUDGET_EXCEEDED``).

The budget comes first, as in opacus: give ``target_epsilon``, ``target_delta`` and the number of
proposals the learner plans to make (``planned_proposals``), and the noise multiplier is derived from
them (``opacus.accountants.utils.get_noise_multiplier`` with steps = planned proposals x batches per
proposal): the least noise that spends at most ``target_epsilon`` over those proposals. Giving a
``noise_multiplier`` instead still works: then the budget decides how many proposals it allows.

Taught in notebook 10.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset, TensorDataset, default_collate

from ..protocol.checks import check_int, check_number
from ..protocol.results import DP_BUDGET_EXCEEDED
from .batches import flatten

# RDP orders the accountant tries: whole numbers only, which opacus sums exactly (fractional orders cost a
# long series each, many times slower); epsilon comes out the same or a little larger, never smaller.
RDP_ORDERS = (*range(2, 64), 80, 128, 256)
INSTALL_HINT = "differential privacy needs opacus: pip install opacus (or pip install -e '.[privacy]')"


@dataclass(frozen=True)
class DiffPrivConfig:
    """A learner's privacy budget and DP-SGD settings: the budget and the planned proposals, or a noise level.

    ``max_physical_batch_size`` bounds memory, not privacy: each batch trains in pieces of at most that many
    samples, so opacus holds fewer per-sample gradients at once (None: the whole batch at once); the step,
    its noise and its accounting stay those of the whole batch, as with opacus's ``BatchMemoryManager``.

    >>> DiffPrivConfig(target_epsilon=5.0, target_delta=1e-5, planned_proposals=4)
    DiffPrivConfig(target_epsilon=5.0, target_delta=1e-05, max_grad_norm=1.0, noise_multiplier=None, \
planned_proposals=4, max_physical_batch_size=8)
    """

    target_epsilon: float
    target_delta: float
    max_grad_norm: float = 1.0
    noise_multiplier: float | None = None
    planned_proposals: int | None = None
    max_physical_batch_size: int | None = 8

    def __post_init__(self):
        check_number("target_epsilon", self.target_epsilon, 0, low_open=True, hint=", e.g. 5.0")
        check_number("target_delta", self.target_delta, 0, 1, low_open=True, high_open=True,
                     hint=", e.g. 1e-5")
        check_number("max_grad_norm", self.max_grad_norm, 0, low_open=True, hint=", e.g. 1.0")
        if self.noise_multiplier is not None:
            check_number("noise_multiplier", self.noise_multiplier, 0, low_open=True, hint=", e.g. 1.1")
        if self.planned_proposals is not None:
            check_int("planned_proposals", self.planned_proposals, minimum=1,
                      hint=" (how many proposals the budget must last)")
        if self.max_physical_batch_size is not None:
            check_int("max_physical_batch_size", self.max_physical_batch_size, minimum=1,
                      hint=" (samples per piece of a batch; None: whole batches)")
        if (self.noise_multiplier is None) == (self.planned_proposals is None):
            raise ValueError(f"planned_proposals: got {self.planned_proposals!r} with noise_multiplier="
                             f"{self.noise_multiplier!r}; expected one of them: the number of proposals the "
                             "budget must last (the noise is then derived), or a noise_multiplier")


def opacus_available() -> bool:
    """True when opacus can be imported."""
    try:
        import opacus  # noqa: F401
    except ImportError:
        return False
    return True


def noise_for_budget(target_epsilon: float, target_delta: float, sample_rate: float, steps: int) -> float:
    """The least noise multiplier whose ``steps`` DP-SGD steps at ``sample_rate`` spend at most
    ``target_epsilon`` at ``target_delta`` (opacus's ``get_noise_multiplier``, RDP accountant).

    >>> round(noise_for_budget(3.0, 1e-5, sample_rate=0.08, steps=8), 1)
    1.0
    """
    check_int("steps", steps, minimum=1)
    return _noise_for_budget(float(target_epsilon), float(target_delta), float(sample_rate), steps)


@lru_cache(maxsize=256)
def _noise_for_budget(target_epsilon: float, target_delta: float, sample_rate: float, steps: int) -> float:
    """``noise_for_budget``, remembered: the search takes seconds, and learners alike ask alike."""
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():  # the search tries huge noise levels, where opacus warns about orders
        warnings.filterwarnings("ignore", message="Optimal order is the", category=UserWarning)
        return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=target_delta,
                                          sample_rate=sample_rate, steps=steps, accountant="rdp",
                                          alphas=list(RDP_ORDERS)))


def training_tensors(train_loader: Any) -> tuple[list[torch.Tensor], Callable[[list], Any], int]:
    """The tensors of every training sample (one per batch entry), the function that makes a batch of such
    tensors a batch as the loader gives, and the batch size (``TensorLoader`` or ``DataLoader``)."""
    if hasattr(train_loader, "inputs") and hasattr(train_loader, "labels"):
        return [train_loader.inputs, train_loader.labels], tuple, train_loader.batch_size
    if not hasattr(train_loader, "dataset") or not getattr(train_loader, "batch_size", None):
        raise ValueError(f"train_loader: got {type(train_loader).__name__}; differential privacy needs a "
                         "TensorLoader or a torch DataLoader with a batch_size, to sample batches from its "
                         "data")
    try:
        samples = _all_samples(train_loader.dataset, train_loader.collate_fn)
        flat = isinstance(samples, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in samples)
        tensors, rebuild = (list(samples), tuple) if flat else flatten(samples)
        TensorDataset(*tensors)  # one entry per sample in every tensor
    except (ValueError, TypeError, AssertionError) as exc:
        raise ValueError(f"train_loader: differential privacy resamples the samples' tensors, one entry per "
                         f"sample, but {exc}; give batches of tensors only (drop other fields)") from exc
    return tensors, rebuild, train_loader.batch_size


def _all_samples(dataset: Any, collate: Callable[[list], Any]) -> Any:
    """Every sample of a map-style ``dataset`` as one batch: a ``TensorDataset``'s tensors directly."""
    if collate is default_collate and isinstance(dataset, TensorDataset):
        return list(dataset.tensors)
    if collate is default_collate and isinstance(dataset, Subset) and isinstance(dataset.dataset,
                                                                                  TensorDataset):
        index = torch.as_tensor(dataset.indices, dtype=torch.long)
        return [tensor[index] for tensor in dataset.dataset.tensors]
    return collate([dataset[i] for i in range(len(dataset))])


class RebuiltBatches:
    """The batches of ``loader`` (lists of tensors) rebuilt as the learner's own loader gives them."""

    def __init__(self, loader: Any, rebuild: Callable[[list], Any]):
        self.loader, self.rebuild = loader, rebuild

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:  # generator, sample_rate, ... of the private loader
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[Any]:
        return (self.rebuild(list(batch)) for batch in self.loader)


@lru_cache(maxsize=1024)
def spent_epsilon(history: tuple[tuple[float, float, int], ...], delta: float) -> float:
    """Epsilon at ``delta`` after ``history``'s (noise multiplier, sample rate, steps), by opacus's RDP
    accountant; remembered, as each proposal asks more than once.

    >>> round(spent_epsilon(((1.0, 0.08, 8),), 1e-5), 2)
    2.8
    """
    from opacus.accountants import RDPAccountant

    if not history:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = list(history)
    with warnings.catch_warnings():  # large noise: the best order is the largest tried, and opacus says so
        warnings.filterwarnings("ignore", message="Optimal order is the", category=UserWarning)
        return float(accountant.get_epsilon(delta, alphas=list(RDP_ORDERS)))


class PrivateTraining:
    """DP-SGD for one model: the private optimizer and Poisson loader a learner trains with, and the accounts.

    Built by ``PytorchLearner`` from its own model, optimizer and training loader with opacus's
    ``PrivacyEngine.make_private``: per-sample gradient hooks on the model's own layers, a ``DPOptimizer``
    around the optimizer, a Poisson-sampling ``DPDataLoader`` over the loader's samples; it changes no
    other object's attributes. With ``planned_proposals`` the noise multiplier is derived before the first
    proposal, for proposals of the learner's ``num_train_batches`` (``plan``). ``quiet()`` silences
    opacus's per-batch hook warning while training, for that block only. It is the learner's training
    strategy (``training.py``): ``refusal`` before a proposal, ``step`` per batch, ``summary`` after.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_loader: Any,
                 config: DiffPrivConfig, seed: int | None = None):
        try:
            from opacus import PrivacyEngine
            from opacus.validators import ModuleValidator
        except ImportError as exc:
            raise ImportError(f"diff_priv_config: {INSTALL_HINT}") from exc
        if not isinstance(config, DiffPrivConfig):
            raise ValueError(f"diff_priv_config: got {type(config).__name__}; "
                             "expected a DiffPrivConfig or None")
        ModuleValidator.validate(model, strict=True)
        tensors, rebuild, batch_size = training_tensors(train_loader)
        seed = int(torch.randint(0, 2**62, ()).item()) if seed is None else seed
        data = DataLoader(TensorDataset(*tensors), batch_size=min(batch_size, len(tensors[0])),
                          generator=torch.Generator().manual_seed(seed))
        with warnings.catch_warnings():  # secure_mode is for production; a course trains for experiment
            warnings.filterwarnings("ignore", message="Secure RNG turned off", category=UserWarning)
            self.engine = PrivacyEngine(accountant="rdp")
        self.config, self.accountant, self.sample_rate = config, self.engine.accountant, 1 / len(data)
        self.noise_multiplier = config.noise_multiplier or self.planned_noise(None, len(data))
        # hooks on the model's own layers (wrap_model=False), a DPOptimizer, and a Poisson DPDataLoader
        self.hooks, self.optimizer, private_loader = self.engine.make_private(
            module=model, optimizer=optimizer, data_loader=data, noise_multiplier=self.noise_multiplier,
            max_grad_norm=config.max_grad_norm, poisson_sampling=True, wrap_model=False)
        self.loader = private_loader if rebuild is tuple else RebuiltBatches(private_loader, rebuild)

    def planned_noise(self, num_train_batches: int | None, n_batches: int | None = None) -> float:
        """The noise that spends ``target_epsilon`` over ``planned_proposals`` proposals of these batches."""
        n_batches = n_batches or len(self.loader)
        per_proposal = min(n_batches, num_train_batches or n_batches)
        steps = per_proposal * (self.config.planned_proposals or 1)
        return noise_for_budget(self.config.target_epsilon, self.config.target_delta, self.sample_rate, steps)

    def plan(self, num_train_batches: int | None) -> None:
        """Before the first proposal: derive the noise for proposals of ``num_train_batches`` (None: all)."""
        if self.config.noise_multiplier is None and not self.accountant.history:
            self.noise_multiplier = self.planned_noise(num_train_batches)
            self.optimizer.noise_multiplier = self.noise_multiplier

    def refusal(self, num_train_batches: int | None, extra_loss: Callable | None) -> dict[str, Any] | None:
        """The summary of a proposal that must not train (budget spent), else None; refuse ``extra_loss``."""
        if extra_loss is not None:
            raise ValueError("extra_loss: got a loss term on a DP-SGD learner; DP-SGD clips each sample's "
                             "gradient and cannot take a term on the weights: set extra_loss = None")
        return self.refusal_summary(num_train_batches) if self.budget_exceeded(num_train_batches) else None

    def step(self, loss_of: Callable[[Any, torch.Tensor], torch.Tensor], inputs: Any,
             labels: torch.Tensor) -> torch.Tensor:
        """One DP-SGD step on a batch, in pieces of at most ``max_physical_batch_size``; its mean loss.

        ``loss_of(inputs, labels)`` is a piece's loss on the model. Clipped per-sample gradients are summed
        over the pieces and noised once, at the last piece (opacus skips the step at the others), so the
        update and the accounting are the whole batch's.
        """
        size = self.config.max_physical_batch_size or max(len(labels), 1)
        tensors, rebuild = flatten((inputs, labels))  # every tensor cut alike; an empty batch: one piece
        pieces = [rebuild(list(piece)) for piece in zip(*(t.split(size) for t in tensors), strict=True)]
        total_loss = torch.zeros((), device=labels.device)
        for index, (piece_inputs, piece_labels) in enumerate(pieces):
            self.optimizer.signal_skip_step(do_skip=index < len(pieces) - 1)
            self.optimizer.zero_grad()  # keeps the sum of the pieces already clipped
            loss = loss_of(piece_inputs, piece_labels)
            loss.backward()
            self.optimizer.step()
            if len(pieces) == 1:
                return loss.detach()
            total_loss += loss.detach() * len(piece_labels)
        return total_loss / len(labels)

    def summary(self) -> dict[str, Any]:
        """What a proposal's training summary adds: the budget, spent and planned."""
        return {"dp_budget": self.budget()}

    def history(self) -> list[list[float]]:
        """The accountant's history (noise multiplier, sample rate, steps) as plain lists, for checkpoints."""
        return [list(step) for step in self.accountant.history]

    def load_history(self, saved: list) -> None:
        """Restore ``history``: the epsilon already spent stays spent."""
        self.accountant.history = [tuple(step) for step in saved]

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Inside the block only, hide opacus's "Full backward hook is firing" warning (one per batch)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
            yield

    def __repr__(self) -> str:
        return (f"PrivateTraining(epsilon {self.epsilon():.3g} of {self.config.target_epsilon:.3g} spent, "
                f"noise_multiplier {self.noise_multiplier:.3g})")

    def epsilon(self, extra_steps: int = 0) -> float:
        """Epsilon spent so far at ``target_delta``, or after ``extra_steps`` more training batches."""
        history = [tuple(step) for step in self.accountant.history]
        if extra_steps:
            history.append((self.noise_multiplier, self.sample_rate, extra_steps))
        return spent_epsilon(tuple(history), self.config.target_delta)

    def steps_per_training(self, num_train_batches: int | None) -> int:
        """Number of batches one proposal trains on, at most ``num_train_batches`` (None: all)."""
        n_batches = len(self.loader)
        return min(n_batches, num_train_batches or n_batches)

    def budget_exceeded(self, num_train_batches: int | None) -> bool:
        """True when one more proposal would spend more than ``target_epsilon`` (the noise planned first)."""
        self.plan(num_train_batches)
        return self.epsilon(self.steps_per_training(num_train_batches)) > self.config.target_epsilon

    def budget(self) -> dict[str, float]:
        """Target and consumed epsilon and delta, as plain numbers."""
        spent = self.epsilon()
        return {"target_epsilon": self.config.target_epsilon, "consumed_epsilon": spent,
                "target_delta": self.config.target_delta, "noise_multiplier": self.noise_multiplier,
                "consumed_delta": self.config.target_delta if spent > 0 else 0.0}

    def refusal_summary(self, num_train_batches: int | None) -> dict[str, Any]:
        """The training summary of a learner that proposes its current weights: its budget is used up."""
        return {"n_train_batches": 0, "dp_budget": self.budget(), "error_code": DP_BUDGET_EXCEEDED,
                "message": (f"privacy budget used up: one more training would spend epsilon "
                            f"{self.epsilon(self.steps_per_training(num_train_batches)):.3g} > target "
                            f"{self.config.target_epsilon:.3g}; proposing the current weights unchanged")}
