"""A collective learner around any PyTorch model, optimizer and data loaders.

Taught in notebook 04.
"""
from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import AbstractContextManager, contextmanager, nullcontext
from itertools import islice
from typing import cast

import torch

from ..protocol.checks import check_batches
from ..protocol.interface import MachineLearningInterface, ProposedWeights, Weights
from .privacy import DiffPrivConfig, PrivateTraining

StateDict = dict[str, torch.Tensor]


def _check_loader(name: str, loader: Iterable | None, required: bool = True) -> None:
    if loader is None:
        if required:
            raise ValueError(f"{name}: got None; "
                             "pass a DataLoader (or any iterable of (inputs, labels) batches)")
        return
    if hasattr(loader, "__len__") and len(cast(Sized, loader)) == 0:
        raise ValueError(f"{name}: the loader is empty (0 batches); give this learner some data")


class PytorchLearner(MachineLearningInterface):
    """Proposes weights by training its model, tests and votes on proposals with its own data.

    Scores come from ``vote_criterion(outputs, labels)`` when given, else the mean
    ``criterion`` per sample; ``minimise_criterion`` says which direction is better.
    With ``diff_priv_config`` it trains with DP-SGD (needs opacus; see ``colearn_nb.pytorch.privacy``).
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_loader: Iterable,
                 vote_loader: Iterable, test_loader: Iterable | None = None,
                 need_reset_optimizer: bool = True, device: str | torch.device = "cpu",
                 criterion: Callable | None = None, minimise_criterion: bool = True,
                 vote_criterion: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
                 num_train_batches: int | None = None, num_test_batches: int | None = None,
                 diff_priv_config: DiffPrivConfig | None = None):
        if criterion is None:
            raise ValueError("criterion: got None; training needs a loss, e.g. criterion=torch.nn.NLLLoss()")
        check_batches("num_train_batches", num_train_batches)
        check_batches("num_test_batches", num_test_batches)
        _check_loader("train_loader", train_loader)
        _check_loader("vote_loader", vote_loader)
        _check_loader("test_loader", test_loader, required=False)
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.privacy: PrivateTraining | None = None
        # DP-SGD: a private optimizer and a Poisson-sampling loader over the data
        if diff_priv_config is not None:
            self.privacy = PrivateTraining(self.model, optimizer, train_loader, diff_priv_config)
            optimizer, train_loader = self.privacy.optimizer, self.privacy.loader
        self.optimizer, self.criterion, self.vote_criterion = optimizer, criterion, vote_criterion
        self.train_loader, self.vote_loader, self.test_loader = train_loader, vote_loader, test_loader
        self.need_reset_optimizer, self.minimise_criterion = need_reset_optimizer, minimise_criterion
        self.num_train_batches, self.num_test_batches = num_train_batches, num_test_batches
        self._last_tested: tuple[Weights | None, float] = (None, math.nan)
        self.vote_score = self.test(self.vote_loader, "vote_loader")

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        return (f"PytorchLearner({type(self.model).__name__}, {n_params:,} parameters, "
                f"vote_score={self.vote_score:.4g}, device={self.device})")

    # -- weights ---------------------------------------------------------------------------
    def _state_copy(self) -> StateDict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def check_weights(self, weights: Weights) -> None:
        """Raise ``ValueError`` naming the key and both shapes when ``weights`` do not fit the model."""
        given, own = weights.weights, self.model.state_dict()
        if not isinstance(given, dict):
            raise ValueError(f"weights: got {type(given).__name__}; expected a state dict of tensors "
                             "as made by mli_get_current_weights(); the learner's weights are unchanged")
        missing, extra = sorted(own.keys() - given.keys()), sorted(given.keys() - own.keys())
        if missing or extra:
            raise ValueError(f"weights do not fit this learner's model: missing keys {missing}, "
                             f"unexpected keys {extra}; the learner's weights are unchanged")
        for key, tensor in own.items():
            if tuple(given[key].shape) != tuple(tensor.shape):
                raise ValueError(f"weights do not fit this learner's model: key {key!r} has shape "
                                 f"{tuple(given[key].shape)} in the weights but {tuple(tensor.shape)} "
                                 "in the model; the learner's weights are unchanged")

    def _load(self, state: StateDict) -> None:
        self.model.load_state_dict(state)

    @contextmanager
    def _weights_swapped_in(self, state: StateDict) -> Iterator[None]:
        """Let the model compute with the tensors of ``state`` inside the block, without copying them."""
        own = {name: t for name, t in [*self.model.named_parameters(), *self.model.named_buffers()]
               if name in state}
        saved = {name: tensor.data for name, tensor in own.items()}
        try:
            for name, tensor in own.items():
                tensor.data = state[name].to(device=tensor.device, dtype=tensor.dtype)
            yield
        finally:
            for name, tensor in own.items():
                tensor.data = saved[name]

    def mli_get_current_weights(self) -> Weights:
        """A copy of the model's current weights (a state dict of cloned tensors)."""
        return Weights(weights=self._state_copy())

    # -- training and scoring -------------------------------------------------------------
    def reset_optimizer(self) -> None:
        """Forget the optimizer's state (e.g. Adam's moments) before training from new weights."""
        self.optimizer.state = collections.defaultdict(dict)

    def train(self) -> dict:
        """Train the model in place on at most ``num_train_batches`` batches; returns a summary."""
        self.model.train()
        total_loss, n_batches = torch.zeros((), device=self.device), 0
        for inputs, labels in islice(self.train_loader, self.num_train_batches):
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(inputs), labels)
            loss.backward()
            self.optimizer.step()
            total_loss += loss.detach()
            n_batches += 1
        # frees gradients (and DP-SGD's per-sample ones) between rounds
        self.optimizer.zero_grad(set_to_none=True)
        if n_batches == 0:
            raise ValueError("train_loader: yielded no batches; give this learner some training data")
        return {"n_train_batches": n_batches, "mean_train_loss": total_loss.item() / n_batches}

    @torch.no_grad()
    def test(self, loader: Iterable, loader_name: str = "loader") -> float:
        """The score of the current weights on the first ``num_test_batches`` batches of ``loader``."""
        self.model.eval()
        outputs, labels_seen, total_loss, n_samples = [], [], 0.0, 0
        for inputs, labels in islice(loader, self.num_test_batches):
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            output = self.model(inputs)
            if self.vote_criterion is not None:
                outputs.append(output)
                labels_seen.append(labels)
            else:
                loss = self.criterion(output, labels)
                reduction = getattr(self.criterion, "reduction", "mean")
                total_loss += loss.item() * (len(labels) if reduction == "mean" else 1)
            n_samples += len(labels)
        if n_samples == 0:
            raise ValueError(f"{loader_name}: yielded no batches; give this learner some data to score on")
        if self.vote_criterion is None:
            return total_loss / n_samples
        return float(self.vote_criterion(torch.cat(outputs), torch.cat(labels_seen)))

    def vote(self, new_score: float) -> bool:
        """True only when ``new_score`` is strictly better than the current ``vote_score``."""
        if not math.isfinite(new_score):
            return False
        if math.isnan(self.vote_score):
            return True
        return new_score < self.vote_score if self.minimise_criterion else new_score > self.vote_score

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Model and optimizer state, current vote score and loader shuffling (tensors and plain data)."""
        loaders = {name: loader.generator.get_state() for name, loader in self._loaders()
                   if hasattr(loader, "generator")}
        privacy_history = [list(step) for step in self.privacy.accountant.history] if self.privacy else []
        return {"model": self._state_copy(), "optimizer": self.optimizer.state_dict(),
                "vote_score": self.vote_score, "loaders": loaders, "privacy_history": privacy_history}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved; checks the weights first so a mismatch changes nothing."""
        self.check_weights(Weights(weights=state["model"]))
        self._load(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.vote_score = state["vote_score"]
        for name, loader in self._loaders():
            if name in state["loaders"]:
                loader.generator.set_state(state["loaders"][name])
        if self.privacy is not None:  # the epsilon already spent stays spent
            self.privacy.accountant.history = [tuple(step) for step in state.get("privacy_history", [])]
        self._last_tested = (None, math.nan)

    def _loaders(self):
        return [("train", self.train_loader), ("vote", self.vote_loader), ("test", self.test_loader)]

    # -- the interface ----------------------------------------------------------------------
    def mli_propose_weights(self) -> Weights:
        """Train a copy of the current weights and return it; the current weights are never touched."""
        proposal = self._state_copy()
        if self.privacy is not None and self.privacy.budget_exceeded(self.num_train_batches):
            return Weights(weights=proposal,
                           training_summary=self.privacy.refusal_summary(self.num_train_batches))
        if self.need_reset_optimizer:
            self.reset_optimizer()
        with self._weights_swapped_in(proposal), self._quiet():  # training updates the copy in place
            summary = self.train()
        if self.privacy is not None:
            summary["dp_budget"] = self.privacy.budget()
        return Weights(weights=proposal, training_summary=summary)

    def _quiet(self) -> AbstractContextManager[None]:
        return self.privacy.quiet() if self.privacy is not None else nullcontext()

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Score ``weights`` on the vote and test loaders and vote; the current weights are put back."""
        self.check_weights(weights)
        with self._weights_swapped_in(weights.weights):
            vote_score = self.test(self.vote_loader, "vote_loader")
            test_score = (self.test(self.test_loader, "test_loader") if self.test_loader is not None
                          else math.nan)
        self._last_tested = (weights, vote_score)
        return ProposedWeights(weights=weights, vote_score=vote_score, test_score=test_score,
                               vote=self.vote(vote_score))

    def mli_accept_weights(self, weights: Weights) -> None:
        """Load ``weights``; the vote score already computed for them is reused, not tested again."""
        self.check_weights(weights)
        self._load(weights.weights)
        tested, score = self._last_tested
        self.vote_score = score if tested is weights else self.test(self.vote_loader, "vote_loader")
