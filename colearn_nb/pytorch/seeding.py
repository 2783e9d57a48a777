"""One seed for every random number generator a run uses.

Every notebook seeds through ``setup_notebook``; notebook 01 explains why.
"""
from __future__ import annotations

import random

import numpy as np
import torch

from ..protocol.checks import check_int


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that two runs on the CPU give identical ``Results``.

    >>> seed_everything(0); a = torch.rand(1); seed_everything(0); bool(a == torch.rand(1))
    True
    """
    seed = check_int("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def random_states() -> tuple:
    """The state of Python's, NumPy's and PyTorch's generators, for ``set_random_states``.

    >>> states = random_states(); a = torch.rand(1); set_random_states(states); bool(a == torch.rand(1))
    True
    """
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def set_random_states(states: tuple) -> None:
    """Put back the generators' state ``random_states`` took."""
    python, numpy, pytorch = states
    random.setstate(python)
    np.random.set_state(numpy)
    torch.set_rng_state(pytorch)
