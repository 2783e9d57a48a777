"""Membership inference: can someone holding the model tell which samples it was trained on?

The loss-threshold attack (Yeom et al., 2018): a model is usually more confident on the samples it was
trained on, so a low loss says "member". Scored over every threshold: the AUC (0.5: members and
non-members look alike; 1.0: every member recognised) and the membership advantage, the best true
positive rate minus false positive rate (0: the attacker learns nothing). Differential privacy bounds
the advantage (at most ``exp(epsilon) - 1 + delta`` for one sample), which is why it matters.

Taught in notebook 10.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..protocol.checks import check_int, check_number


@torch.no_grad()
def sample_losses(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                  batch_size: int = 512) -> torch.Tensor:
    """Every sample's cross-entropy loss under ``model`` (outputs: logits or log-probabilities).

    >>> model = torch.nn.Linear(2, 3)
    >>> sample_losses(model, torch.zeros(4, 2), torch.tensor([0, 1, 2, 0])).shape
    torch.Size([4])
    """
    check_int("batch_size", batch_size, minimum=1)
    if len(inputs) != len(labels) or len(labels) == 0:
        raise ValueError(f"inputs and labels: got {len(inputs)} inputs and {len(labels)} labels; "
                         "expected the same number, at least one")
    was_training = model.training
    model.eval()
    try:
        losses = [torch.nn.functional.cross_entropy(model(inputs[i:i + batch_size]),
                                                    labels[i:i + batch_size], reduction="none")
                  for i in range(0, len(labels), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(losses)


def _check_scores(member: torch.Tensor, non_member: torch.Tensor) -> None:
    if member.numel() == 0 or non_member.numel() == 0:
        raise ValueError(f"losses: got {member.numel()} member and {non_member.numel()} non-member losses; "
                         "expected at least one of each")


def membership_auc(member_losses: torch.Tensor, non_member_losses: torch.Tensor) -> float:
    """The chance that a random member has a lower loss than a random non-member (ties count half).

    >>> membership_auc(torch.tensor([0.1, 0.2]), torch.tensor([0.3, 0.2]))
    0.875
    """
    _check_scores(member_losses, non_member_losses)
    lower = (member_losses[:, None] < non_member_losses[None, :]).double().mean()
    ties = (member_losses[:, None] == non_member_losses[None, :]).double().mean()
    return float(lower + ties / 2)


def membership_advantage(member_losses: torch.Tensor, non_member_losses: torch.Tensor) -> float:
    """The best, over thresholds, of (members with loss <= threshold) - (non-members with loss <= it).

    >>> membership_advantage(torch.tensor([0.1, 0.2]), torch.tensor([0.3, 0.2]))
    0.5
    """
    _check_scores(member_losses, non_member_losses)
    thresholds = torch.cat([member_losses, non_member_losses]).unique()
    true_positive = (member_losses[None, :] <= thresholds[:, None]).double().mean(dim=1)
    false_positive = (non_member_losses[None, :] <= thresholds[:, None]).double().mean(dim=1)
    return max(0.0, float((true_positive - false_positive).max()))


def chance_advantage(n_members: int, n_non_members: int, percentile: float = 95.0, trials: int = 1000,
                     seed: int = 0) -> float:
    """The advantage a guessing attacker reaches by luck: the ``percentile`` of ``membership_advantage``
    over ``trials`` random scorings of ``n_members`` members and ``n_non_members`` non-members.

    An attack whose advantage is below this tells members from non-members no better than coin flips
    would, ``percentile`` % of the time; it shrinks as the sets grow (about ``1.22 / sqrt(n / 2)`` at 95 %).

    >>> round(chance_advantage(300, 300), 2)
    0.1
    """
    check_int("n_members", n_members, minimum=1)
    check_int("n_non_members", n_non_members, minimum=1)
    check_int("trials", trials, minimum=1)
    check_number("percentile", percentile, 0, 100)
    generator = torch.Generator().manual_seed(seed)
    # random scores: the members' ranks among all samples are a random permutation's first n_members
    is_member = torch.rand(trials, n_members + n_non_members, generator=generator).argsort(dim=1) < n_members
    true_positive = is_member.double().cumsum(dim=1) / n_members
    false_positive = (~is_member).double().cumsum(dim=1) / n_non_members
    advantages = (true_positive - false_positive).max(dim=1).values.clamp(min=0.0)
    return float(torch.quantile(advantages, percentile / 100))


@dataclass(frozen=True)
class MembershipAttack:
    """How well the loss-threshold attack tells members from non-members, and their mean losses."""

    auc: float
    advantage: float
    member_loss: float
    non_member_loss: float
    n: int

    def __str__(self) -> str:
        return (f"AUC {self.auc:.3f}, advantage {self.advantage:.3f} (mean loss {self.member_loss:.3f} on "
                f"{self.n} members, {self.non_member_loss:.3f} on {self.n} non-members)")


def loss_threshold_attack(model: torch.nn.Module, members: tuple[torch.Tensor, torch.Tensor],
                          non_members: tuple[torch.Tensor, torch.Tensor]) -> MembershipAttack:
    """Attack ``model`` with the losses of ``members`` (trained on) and ``non_members`` (never seen),
    each ``(inputs, labels)``; the larger set is cut to the size of the smaller, so chance is 0.5.

    >>> x, y = torch.randn(20, 2), torch.arange(20) % 2
    >>> attack = loss_threshold_attack(torch.nn.Linear(2, 2), (x[:10], y[:10]), (x[10:], y[10:]))
    >>> attack.n, 0 <= attack.auc <= 1
    (10, True)
    """
    n = min(len(members[1]), len(non_members[1]))
    member = sample_losses(model, members[0][:n], members[1][:n])
    non_member = sample_losses(model, non_members[0][:n], non_members[1][:n])
    return MembershipAttack(auc=membership_auc(member, non_member),
                            advantage=membership_advantage(member, non_member),
                            member_loss=float(member.mean()), non_member_loss=float(non_member.mean()), n=n)
