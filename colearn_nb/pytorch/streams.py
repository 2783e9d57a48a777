"""Each learner's own random stream for training: the same proposals in one process or on many machines.

Dropout masks, the shuffling of a loader without a generator of its own and DP-SGD's noise all draw
from torch's global random number generator. When learners share one process, each proposal would
depend on what the other learners drew before it; on Flower every learner has a process of its own.
A ``TrainingStream`` seeds the global generator for each proposal from the learner's seed and the
proposal's number (round and proposer, in effect), then restores it, so both give the same proposals.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..protocol.checks import check_int


def _hash64(data: bytes) -> int:
    """A 63-bit integer from ``data``; the same on every machine and Python version."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


def seed_from_rng_state() -> int:
    """A seed from torch's global generator state, without drawing from it.

    Learners built after the same ``seed_everything`` and the same steps get the same seed, in this
    process or another; learners built one after another get different ones.
    """
    return _hash64(torch.get_rng_state().numpy().tobytes())


class TrainingStream:
    """The seed of one learner's training randomness and the number of proposals drawn from it.

    >>> stream = TrainingStream(seed=7)
    >>> with stream.next_proposal(): a = torch.rand(1)
    >>> TrainingStream(seed=7).proposal_seed(0) == stream.proposal_seed(0), stream.n_proposals
    (True, 1)
    """

    def __init__(self, seed: int | None = None, device: torch.device | None = None):
        self.seed = seed_from_rng_state() if seed is None else check_int("seed", seed, minimum=0)
        self.n_proposals = 0
        self.device = torch.device("cpu") if device is None else device

    def __repr__(self) -> str:
        return f"TrainingStream(seed={self.seed}, n_proposals={self.n_proposals})"

    def proposal_seed(self, proposal_number: int) -> int:
        """The seed of proposal ``proposal_number`` (0 for this learner's first proposal)."""
        return _hash64(f"{self.seed}/{proposal_number}".encode())

    @contextmanager
    def next_proposal(self) -> Iterator[None]:
        """Inside, torch's global generator is seeded for the next proposal; it is restored afterwards.

        The proposal counts only when the block completes, so a failed training can be retried alike.
        """
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.proposal_seed(self.n_proposals))
            yield
        self.n_proposals += 1

    def state_dict(self) -> dict[str, int]:
        """The seed and the number of proposals made: what resuming needs."""
        return {"seed": self.seed, "n_proposals": self.n_proposals}

    def check_state_dict(self, state: object) -> None:
        """Raise ``ValueError`` when ``state`` is not a ``state_dict()`` of a stream."""
        if not isinstance(state, dict) or sorted(state) != ["n_proposals", "seed"]:
            raise ValueError(f"training_stream: got {state!r}; expected {{'seed': ..., 'n_proposals': ...}} "
                             "as saved by PytorchLearner.state_dict()")
        check_int("training_stream seed", state["seed"], minimum=0)
        check_int("training_stream n_proposals", state["n_proposals"], minimum=0)

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue the stream saved by ``state_dict``."""
        self.check_state_dict(state)
        self.seed, self.n_proposals = int(state["seed"]), int(state["n_proposals"])
