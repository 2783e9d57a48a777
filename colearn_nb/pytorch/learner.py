"""A collective learner around any PyTorch model, optimizer and data loaders: the four ``mli_`` methods
and the training, scoring and voting they need.

Beside it: how a batch trains (``training.py``, DP-SGD from ``privacy.py``), the weights' copies
(``model_weights.py``), checkpoints and an interrupted proposal's undo (``learner_state.py``), batches
(``batches.py``), argument checks (``learner_checks.py``).

Taught in notebook 04.
"""
from __future__ import annotations

import collections
import math
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import torch

from ..protocol.checks import check_batches
from ..protocol.interface import MachineLearningInterface, ProposedWeights, Weights
from . import learner_state
from .batches import BatchReading
from .learner_checks import as_score, check_direction, check_loader, check_scheduler
from .model_weights import check_weights_fit, load_weights, state_copy, tied_names, weights_swapped_in
from .privacy import DiffPrivConfig, PrivateTraining
from .streams import TrainingStream
from .training import TrainingStrategy, training_for


class PytorchLearner(MachineLearningInterface):
    """Proposes weights by training its model, tests and votes on proposals with its own data.

    Scores come from ``vote_criterion(outputs, labels)`` when given, else the mean
    ``criterion`` per sample; ``minimise_criterion`` says which direction is better.
    Batches are split by ``inputs_targets(batch) -> (inputs, targets)`` and outputs read by
    ``logits(output) -> tensor`` (defaults: dicts with a ``label`` key, ``(x1, x2, y)``, ``.logits``; see
    ``colearn_nb.pytorch.batches``); every loader's first batch is checked when the learner is built.
    Each batch trains by the learner's ``training`` strategy: ``SgdTraining`` (``training.py``), or with
    ``diff_priv_config`` DP-SGD's ``PrivateTraining`` (needs opacus; see ``colearn_nb.pytorch.privacy``).
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
        check_loader("train_loader", train_loader)
        check_loader("vote_loader", vote_loader)
        check_loader("test_loader", test_loader, required=False)
        check_scheduler(scheduler, optimizer)
        check_direction(vote_criterion, minimise_criterion)
        self.device = torch.device(device)
        self.stream = TrainingStream(seed, self.device)
        self.model = model.to(self.device)
        self._tied = tied_names(self.model)
        self.batches = BatchReading(inputs_targets, logits, self.device)
        for name, loader in (("train_loader", train_loader), ("vote_loader", vote_loader),
                             ("test_loader", test_loader)):
            if loader is not None:  # each loader's first batch, read and put back: a wrong batch fails here
                self.batches.check(name, loader, self.model, criterion)
        # DP-SGD trains with a private optimizer and a Poisson-sampling loader over the data
        self.training: TrainingStrategy = training_for(self.model, optimizer, train_loader, diff_priv_config)
        self.criterion, self.vote_criterion, self.scheduler = criterion, vote_criterion, scheduler
        self.train_loader, self.vote_loader, self.test_loader = self.training.loader, vote_loader, test_loader
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

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer training steps with (with DP-SGD, opacus's ``DPOptimizer`` around the one given)."""
        return self.training.optimizer

    @optimizer.setter
    def optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        self.training.optimizer = optimizer

    @property
    def privacy(self) -> PrivateTraining | None:
        """The DP-SGD training and its accounts (``epsilon()``...), or None without ``diff_priv_config``."""
        return self.training if isinstance(self.training, PrivateTraining) else None

    # -- the interface ----------------------------------------------------------------------
    def mli_get_current_weights(self) -> Weights:
        """A copy of the model's current weights (a state dict of cloned tensors)."""
        return Weights(weights=state_copy(self.model, self._tied))

    def mli_propose_weights(self) -> Weights:
        """Train a copy of the current weights and return it; the current weights are never touched.

        Interrupted (Ctrl-C) or failing, it leaves the learner as it was (``forget_last_proposal``).
        """
        self._before_proposal = learner_state.training_snapshot(self)
        try:
            return self._propose()
        except BaseException:
            self.forget_last_proposal()
            raise

    def _propose(self) -> Weights:
        """Train a copy of the weights, unless the training strategy refuses (a DP budget used up)."""
        proposal = state_copy(self.model, self._tied)
        refusal = self.training.refusal(self.num_train_batches, self.extra_loss)
        if refusal is not None:
            return Weights(weights=proposal, training_summary=refusal)
        if self.need_reset_optimizer:
            self.reset_optimizer()
        with weights_swapped_in(self.model, proposal), self.training.quiet(), self.stream.next_proposal():
            summary = self.train()  # updates the copy in place
        if self.scheduler is not None:
            self.scheduler.step()
        return Weights(weights=proposal, training_summary={**summary, **self.training.summary()})

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Score ``weights`` on the vote and test loaders and vote; the current weights are put back."""
        self.check_weights(weights)
        with weights_swapped_in(self.model, weights.weights):
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
            with weights_swapped_in(self.model, weights.weights):
                score = self.test(self.vote_loader, "vote_loader")
        load_weights(self.model, weights.weights, self._tied)
        self.vote_score = score

    # -- what the interface needs -------------------------------------------------------------
    def check_weights(self, weights: Weights) -> None:
        """Raise ``ValueError`` naming the key and both shapes when ``weights`` do not fit the model."""
        check_weights_fit(self.model, weights.weights)

    def reset_optimizer(self) -> None:
        """Forget the optimizer's state (e.g. Adam's moments) before training from new weights."""
        self.optimizer.state = collections.defaultdict(dict)

    def train(self) -> dict:
        """Train the model in place on at most ``num_train_batches`` batches; returns a summary."""
        self.model.train()
        total_loss, n_batches = torch.zeros((), device=self.device), 0
        for batch in islice(self.train_loader, self.num_train_batches):
            total_loss += self.training.step(self.loss_of, *self.batches.split(batch))
            n_batches += 1
        # frees gradients (and DP-SGD's per-sample ones) between rounds
        self.optimizer.zero_grad(set_to_none=True)
        if n_batches == 0:
            raise ValueError("train_loader: yielded no batches; give this learner some training data")
        return {"n_train_batches": n_batches, "mean_train_loss": total_loss.item() / n_batches}

    def loss_of(self, inputs: Any, labels: torch.Tensor) -> torch.Tensor:
        """The training loss of the model on a batch: ``criterion``, plus ``extra_loss(model)`` when set."""
        loss = self.criterion(self.batches.logits_of(self.model, inputs), labels)
        return loss if self.extra_loss is None else loss + self.extra_loss(self.model)

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
        return as_score(self.vote_criterion(torch.cat(outputs), torch.cat(labels_seen)))

    def vote(self, new_score: float) -> bool:
        """True only when ``new_score`` is strictly better than the current ``vote_score``."""
        if not math.isfinite(new_score):
            return False
        if math.isnan(self.vote_score):
            return True
        return new_score < self.vote_score if self.minimise_criterion else new_score > self.vote_score

    # -- checkpoints and interrupted proposals (learner_state.py) -------------------------------
    def state_dict(self) -> dict:
        """Model, optimizer and scheduler state, vote score and loader shuffling (tensors and plain data)."""
        return learner_state.state_dict(self)

    def check_state_dict(self, state: dict) -> None:
        """Raise ``ValueError`` saying what differs when ``state`` (from ``state_dict``) does not fit."""
        learner_state.check_state_dict(self, state)

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved; checks everything first so a mismatch changes nothing."""
        learner_state.load_state_dict(self, state)
        self._last_tested = (None, math.nan)

    def forget_last_proposal(self) -> None:
        """Put back what the last proposal changed (its round did not complete), to propose it again alike."""
        before, self._before_proposal = self._before_proposal, None
        if before is not None:
            learner_state.restore_training(self, before)
