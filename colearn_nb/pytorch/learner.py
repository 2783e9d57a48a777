"""A collective learner around any PyTorch model, optimizer and data loaders.

Taught in notebook 04.
"""
from __future__ import annotations

import collections
import copy
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import AbstractContextManager, contextmanager, nullcontext
from itertools import islice
from typing import Any, cast

import torch

from ..protocol.checks import check_batches
from ..protocol.interface import MachineLearningInterface, ProposedWeights, Weights
from .batches import BatchReading
from .privacy import DiffPrivConfig, PrivateTraining
from .streams import TrainingStream

StateDict = dict[str, torch.Tensor]


def _length(loader: Iterable) -> int | None:
    """The number of batches of ``loader``, or None when it has no length (e.g. over an IterableDataset)."""
    if not hasattr(loader, "__len__"):
        return None
    try:
        return len(cast(Sized, loader))
    except TypeError:  # a DataLoader over an IterableDataset has __len__ but no length
        return None


def _check_loader(name: str, loader: Iterable | None, required: bool = True) -> None:
    if loader is None:
        if required:
            raise ValueError(f"{name}: got None; "
                             "pass a DataLoader (or any iterable of (inputs, labels) batches)")
        return
    if _length(loader) == 0:
        raise ValueError(f"{name}: the loader is empty (0 batches); give this learner some data")


def _check_scheduler(scheduler: object, optimizer: torch.optim.Optimizer) -> None:
    if scheduler is None:
        return
    kinds = torch.optim.lr_scheduler
    if not isinstance(scheduler, kinds.LRScheduler) or isinstance(scheduler, kinds.ReduceLROnPlateau):
        raise ValueError(f"scheduler: got {type(scheduler).__name__}; expected a torch.optim.lr_scheduler "
                         "stepped without a metric (e.g. StepLR), or None")
    if scheduler.optimizer is not optimizer:
        raise ValueError("scheduler: got a scheduler of another optimizer; expected one built on this "
                         "learner's optimizer, e.g. StepLR(optimizer, step_size=10)")


HIGHER_IS_BETTER_WORDS = ("accuracy", "f1", "auc", "precision", "recall", "r2")


def _check_direction(vote_criterion: Callable | None, minimise_criterion: bool) -> None:
    """Refuse a criterion marked ``higher_is_better`` with ``minimise_criterion=True``; warn on its name."""
    if vote_criterion is None or not minimise_criterion:
        return
    name = getattr(vote_criterion, "__name__", type(vote_criterion).__name__)
    if getattr(vote_criterion, "higher_is_better", False):
        raise ValueError(f"minimise_criterion: got True, but vote_criterion {name} is higher-is-better, so "
                         "every vote would be inverted; pass minimise_criterion=False")
    if any(word in name.lower() for word in HIGHER_IS_BETTER_WORDS):
        warnings.warn(f"vote_criterion {name} sounds higher-is-better, but minimise_criterion=True makes "
                      "lower scores win the vote: pass minimise_criterion=False if higher is better (set "
                      f"{name}.higher_is_better = False to silence this)", stacklevel=3)


def _as_score(value: object) -> float:
    """The number ``vote_criterion`` returned (a float, an int or a one-element tensor); else raise."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"vote_criterion: returned {value!r}; expected a number (a float or a one-element "
                         "tensor), e.g. return (outputs.argmax(1) == labels).float().mean().item()")
    return float(value)


def _tied_names(model: torch.nn.Module) -> dict[str, str]:
    """Each state-dict name of a tensor listed before under another name (tied), with that first name."""
    first: dict[int, str] = {}
    tied = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if isinstance(tensor, torch.Tensor) and first.setdefault(id(tensor), name) != name:
            tied[name] = first[id(tensor)]
    return tied


def _describe_groups(groups: list[list[list[int]]]) -> str:
    return f"{len(groups)} parameter group(s) of {[len(group) for group in groups]} parameters"


def _layout_difference(key: str, saved: object, own: object) -> str:
    """What differs between a saved layout entry and the learner's own, as "name: got X; expected Y"."""
    if key == "param_groups":
        saved_groups, own_groups = cast(list, saved), cast(list, own)
        if _describe_groups(saved_groups) != _describe_groups(own_groups):
            return (f"optimizer: got {_describe_groups(saved_groups)} in the checkpoint; "
                    f"expected {_describe_groups(own_groups)}, as this learner's optimizer has")
        return ("optimizer: got other parameter shapes in the checkpoint's parameter groups; "
                "expected those of this learner's optimizer")
    what = {"optimizer": "optimizer type", "scheduler": "scheduler type",
            "loader_generators": "loaders with their own generator"}[key]
    return f"{what}: got {saved!r} in the checkpoint; expected {own!r}, as this learner has"


class PytorchLearner(MachineLearningInterface):
    """Proposes weights by training its model, tests and votes on proposals with its own data.

    Scores come from ``vote_criterion(outputs, labels)`` when given, else the mean
    ``criterion`` per sample; ``minimise_criterion`` says which direction is better.
    Batches are split by ``inputs_targets(batch) -> (inputs, targets)`` and outputs read by
    ``logits(output) -> tensor`` (defaults: dicts with a ``label`` key, ``(x1, x2, y)``, ``.logits``; see
    ``colearn_nb.pytorch.batches``); every loader's first batch is checked when the learner is built.
    With ``diff_priv_config`` it trains with DP-SGD (needs opacus; see ``colearn_nb.pytorch.privacy``).
    A ``scheduler`` (a ``torch.optim.lr_scheduler`` on ``optimizer``) steps once after each proposal's
    training, so its epochs count this learner's proposals; a DP learner out of budget does not train
    and does not step it. Tied parameters (one tensor under two names) stay tied in every weights copy.
    Training draws its randomness (Dropout, shuffling by loaders without a generator, DP noise) from
    a ``TrainingStream`` seeded by ``seed``, by default derived from torch's random state when the
    learner is built: proposals then do not depend on other learners in the process (see ``streams``).
    ``extra_loss(model)``, when set (default None), is added to every training batch's loss (and so to
    ``mean_train_loss``): FedProx's proximal term uses it; DP-SGD training refuses it.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_loader: Iterable,
                 vote_loader: Iterable, test_loader: Iterable | None = None,
                 need_reset_optimizer: bool = True, device: str | torch.device = "cpu",
                 criterion: Callable | None = None, minimise_criterion: bool = True,
                 vote_criterion: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
                 num_train_batches: int | None = None, num_test_batches: int | None = None,
                 diff_priv_config: DiffPrivConfig | None = None,
                 scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, seed: int | None = None,
                 inputs_targets: Callable[[Any], tuple[Any, torch.Tensor]] | None = None,
                 logits: Callable[[Any], torch.Tensor] | None = None):
        if criterion is None:
            raise ValueError("criterion: got None; training needs a loss, e.g. criterion=torch.nn.NLLLoss()")
        check_batches("num_train_batches", num_train_batches)
        check_batches("num_test_batches", num_test_batches)
        _check_loader("train_loader", train_loader)
        _check_loader("vote_loader", vote_loader)
        _check_loader("test_loader", test_loader, required=False)
        _check_scheduler(scheduler, optimizer)
        _check_direction(vote_criterion, minimise_criterion)
        self.device = torch.device(device)
        self.stream = TrainingStream(seed, self.device)
        self.model = model.to(self.device)
        self._tied = _tied_names(self.model)
        self.batches = BatchReading(inputs_targets, logits, self.device)
        for name, loader in (("train_loader", train_loader), ("vote_loader", vote_loader),
                             ("test_loader", test_loader)):
            if loader is not None:  # each loader's first batch, read and put back: a wrong batch fails here
                self.batches.check(name, loader, self.model, criterion)
        self.privacy: PrivateTraining | None = None
        # DP-SGD: a private optimizer and a Poisson-sampling loader over the data
        if diff_priv_config is not None:
            self.privacy = PrivateTraining(self.model, optimizer, train_loader, diff_priv_config,
                                           self.batches)
            optimizer, train_loader = self.privacy.optimizer, self.privacy.loader
        self.optimizer, self.criterion, self.vote_criterion = optimizer, criterion, vote_criterion
        self.scheduler = scheduler
        self.train_loader, self.vote_loader, self.test_loader = train_loader, vote_loader, test_loader
        self.need_reset_optimizer, self.minimise_criterion = need_reset_optimizer, minimise_criterion
        self.num_train_batches, self.num_test_batches = num_train_batches, num_test_batches
        self._last_tested: tuple[Weights | None, float] = (None, math.nan)
        self._before_proposal: dict | None = None
        self.extra_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None
        self.vote_score = self.test(self.vote_loader, "vote_loader")

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        return (f"PytorchLearner({type(self.model).__name__}, {n_params:,} parameters, "
                f"vote_score={self.vote_score:.4g}, device={self.device})")

    # -- weights ---------------------------------------------------------------------------
    def _state_copy(self) -> StateDict:
        """A copy of the model's state dict; tied names share one copied tensor, as in the model."""
        own = self.model.state_dict()
        if not self._tied:
            return {k: v.detach().clone() for k, v in own.items()}
        copies = {k: v.detach().clone() for k, v in own.items() if k not in self._tied}
        return {k: copies[self._tied.get(k, k)] for k in own}

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
        """Load ``state``; tied tensors take the value under their first name, as when swapped in."""
        if self._tied:
            state = {**state, **{alias: state[name] for alias, name in self._tied.items()}}
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
        for batch in islice(self.train_loader, self.num_train_batches):
            total_loss += self._step(*self.batches.split(batch))
            n_batches += 1
        # frees gradients (and DP-SGD's per-sample ones) between rounds
        self.optimizer.zero_grad(set_to_none=True)
        if n_batches == 0:
            raise ValueError("train_loader: yielded no batches; give this learner some training data")
        return {"n_train_batches": n_batches, "mean_train_loss": total_loss.item() / n_batches}

    def _step(self, inputs: Any, labels: torch.Tensor) -> torch.Tensor:
        """One optimizer step on a batch (DP-SGD's in pieces, see ``PrivateTraining.step``); its loss."""
        if self.privacy is not None:
            return self.privacy.step(self.model, self.criterion, inputs, labels)
        self.optimizer.zero_grad()
        loss = self.criterion(self.batches.logits_of(self.model, inputs), labels)
        if self.extra_loss is not None:
            loss = loss + self.extra_loss(self.model)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    @torch.no_grad()
    def test(self, loader: Iterable, loader_name: str = "loader") -> float:
        """The score of the current weights on the first ``num_test_batches`` batches of ``loader``."""
        self.model.eval()
        outputs, labels_seen, total_loss, n_samples = [], [], 0.0, 0
        for batch in islice(loader, self.num_test_batches):
            inputs, labels = self.batches.split(batch)
            output = self.batches.logits_of(self.model, inputs)
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
        return _as_score(self.vote_criterion(torch.cat(outputs), torch.cat(labels_seen)))

    def vote(self, new_score: float) -> bool:
        """True only when ``new_score`` is strictly better than the current ``vote_score``."""
        if not math.isfinite(new_score):
            return False
        if math.isnan(self.vote_score):
            return True
        return new_score < self.vote_score if self.minimise_criterion else new_score > self.vote_score

    # -- checkpoints -------------------------------------------------------------------------
    def _generators(self) -> list[tuple[str, torch.Generator]]:
        """The loaders' own shuffling generators; a loader without one shuffles with torch's global RNG."""
        loaders = [("train", self.train_loader), ("vote", self.vote_loader), ("test", self.test_loader)]
        found = [(name, getattr(loader, "generator", None)) for name, loader in loaders]
        return [(name, generator) for name, generator in found if isinstance(generator, torch.Generator)]

    def _layout(self) -> dict:
        """What a saved state must match: optimizer and scheduler types, parameter groups, generators."""
        groups = [[list(p.shape) for p in group["params"]] for group in self.optimizer.param_groups]
        return {"optimizer": type(self.optimizer).__name__, "param_groups": groups,
                "scheduler": type(self.scheduler).__name__ if self.scheduler is not None else None,
                "loader_generators": [name for name, _ in self._generators()]}

    def state_dict(self) -> dict:
        """Model, optimizer and scheduler state, vote score and loader shuffling (tensors and plain data)."""
        privacy_history = [list(step) for step in self.privacy.accountant.history] if self.privacy else []
        return {"model": self._state_copy(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "layout": self._layout(), "vote_score": self.vote_score,
                "loaders": {name: generator.get_state() for name, generator in self._generators()},
                "training_stream": self.stream.state_dict(), "privacy_history": privacy_history}

    def check_state_dict(self, state: dict) -> None:
        """Raise ``ValueError`` saying what differs when ``state`` (from ``state_dict``) does not fit."""
        keys = {"model", "optimizer", "scheduler", "layout", "vote_score", "loaders", "training_stream"}
        if not isinstance(state, dict) or not keys <= state.keys() or not isinstance(state["layout"], dict):
            found = sorted(state.keys()) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state: got {found}; expected a PytorchLearner.state_dict() with keys "
                             f"{sorted(keys)} (saved by this colearn_nb version)")
        self.check_weights(Weights(weights=state["model"]))
        self.stream.check_state_dict(state["training_stream"])
        for key, own in self._layout().items():
            if state["layout"].get(key) != own:
                raise ValueError(_layout_difference(key, state["layout"].get(key), own))
        for name, generator in self._generators():
            saved = state["loaders"].get(name)
            if not isinstance(saved, torch.Tensor) or saved.shape != generator.get_state().shape:
                raise ValueError(f"loaders: the {name} loader's generator state is not a generator state; "
                                 "expected one saved by PytorchLearner.state_dict()")

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved; checks everything first so a mismatch changes nothing."""
        self.check_state_dict(state)
        self._load(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.vote_score = state["vote_score"]
        self.stream.load_state_dict(state["training_stream"])
        for name, generator in self._generators():
            generator.set_state(state["loaders"][name])
        if self.privacy is not None:  # the epsilon already spent stays spent
            self.privacy.accountant.history = [tuple(step) for step in state.get("privacy_history", [])]
        self._last_tested = (None, math.nan)

    def _training_state(self) -> dict:
        """What a proposal changes besides its copy of the weights: stream, optimizer, scheduler, budget."""
        return {"n_proposals": self.stream.n_proposals,
                "optimizer": (self.optimizer.state if self.need_reset_optimizer  # replaced, never changed
                              else copy.deepcopy(self.optimizer.state_dict())),
                "hyperparameters": [{key: copy.deepcopy(value) for key, value in group.items()
                                     if key != "params"} for group in self.optimizer.param_groups],
                "scheduler": None if self.scheduler is None else copy.deepcopy(self.scheduler.state_dict()),
                "loaders": {name: generator.get_state() for name, generator in self._generators()},
                "privacy_history": list(self.privacy.accountant.history) if self.privacy else None}

    def forget_last_proposal(self) -> None:
        """Put back what the last proposal changed (its round did not complete), to propose it again alike."""
        before, self._before_proposal = self._before_proposal, None
        if before is None:
            return
        self.stream.n_proposals = before["n_proposals"]
        if self.need_reset_optimizer:
            self.optimizer.state = before["optimizer"]
        else:
            self.optimizer.load_state_dict(before["optimizer"])
        for group, hyperparameters in zip(self.optimizer.param_groups, before["hyperparameters"],
                                          strict=True):
            group.update(hyperparameters)  # a scheduler's step changed lr
        if self.scheduler is not None:
            self.scheduler.load_state_dict(before["scheduler"])
        for name, generator in self._generators():
            generator.set_state(before["loaders"][name])
        if self.privacy is not None:
            self.privacy.accountant.history = before["privacy_history"]

    # -- the interface ----------------------------------------------------------------------
    def mli_propose_weights(self) -> Weights:
        """Train a copy of the current weights and return it; the current weights are never touched.

        Interrupted (Ctrl-C) or failing, it leaves the learner as it was (``forget_last_proposal``).
        """
        self._before_proposal = self._training_state()
        try:
            return self._propose()
        except BaseException:
            self.forget_last_proposal()
            raise

    def _propose(self) -> Weights:
        if self.privacy is not None and self.extra_loss is not None:
            raise ValueError("extra_loss: got a loss term on a DP-SGD learner; DP-SGD clips each sample's "
                             "gradient and cannot take a term on the weights: set extra_loss = None")
        proposal = self._state_copy()
        if self.privacy is not None and self.privacy.budget_exceeded(self.num_train_batches):
            return Weights(weights=proposal,
                           training_summary=self.privacy.refusal_summary(self.num_train_batches))
        if self.need_reset_optimizer:
            self.reset_optimizer()
        with self._weights_swapped_in(proposal), self._quiet(), self.stream.next_proposal():
            summary = self.train()  # updates the copy in place
        if self.scheduler is not None:
            self.scheduler.step()
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
        """Load ``weights``; the vote score already computed for them is reused, not tested again.

        Weights not just tested are scored first (swapped in), so a failure leaves the learner unchanged.
        """
        self.check_weights(weights)
        tested, score = self._last_tested
        if tested is not weights:
            with self._weights_swapped_in(weights.weights):
                score = self.test(self.vote_loader, "vote_loader")
        self._load(weights.weights)
        self.vote_score = score
