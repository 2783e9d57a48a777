"""What travels in Flower messages: weights as ArrayRecords, scores as MetricRecords, learner state as bytes.

Notebook 12 explains what travels; this module is how.
"""
from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocol.interface import ProposedWeights, Weights

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, ConfigRecord, MetricRecord


def weights_to_record(weights: Weights) -> ArrayRecord:
    """The weights as an ``ArrayRecord``: a state dict of tensors, or a list of NumPy arrays."""
    import torch  # here, not at the top: the ServerApp's process reads records without torch
    from flwr.app import ArrayRecord

    given = weights.weights
    if isinstance(given, dict) and all(isinstance(v, torch.Tensor) for v in given.values()):
        return ArrayRecord(torch_state_dict={k: v.detach().cpu() for k, v in given.items()})
    if isinstance(given, (list, tuple)) and all(isinstance(v, np.ndarray) for v in given):
        return ArrayRecord(list(given))
    raise TypeError(f"weights: got {type(given).__name__}; Flower carries a dict of torch tensors "
                    "(a state dict) or a list of NumPy arrays")


def record_to_weights(record: ArrayRecord, like: Any = None) -> Weights:
    """Inverse of ``weights_to_record``; ``like`` (the learner's own weights) tells which of the two forms."""
    if isinstance(like, (list, tuple)):
        return Weights(weights=record.to_numpy_ndarrays())
    return Weights(weights=dict(record.to_torch_state_dict()))


def scores_to_record(proposed: ProposedWeights) -> MetricRecord:
    """Vote score, test score and vote (1 yes, 0 no, -1 none) as a ``MetricRecord``."""
    from flwr.app import MetricRecord

    vote = -1 if proposed.vote is None else int(bool(proposed.vote))
    return MetricRecord({"vote_score": float(proposed.vote_score), "test_score": float(proposed.test_score),
                         "vote": vote})


def record_to_scores(record: MetricRecord) -> dict[str, Any]:
    """Inverse of ``scores_to_record``: ``vote_score``, ``test_score`` and ``vote`` (True, False or None)."""
    vote = {1: True, 0: False, -1: None}[int(number(record, "vote"))]
    return {"vote_score": number(record, "vote_score"), "test_score": number(record, "test_score"),
            "vote": vote}


def number(record: MetricRecord | ConfigRecord, key: str) -> float:
    """The number under ``key`` in a record (Flower types a record's values as any of its kinds)."""
    value = record[key]
    if not isinstance(value, (int, float)):
        raise TypeError(f"{key}: got {type(value).__name__} in the message; expected a number")
    return float(value)


def config_int(record: ConfigRecord, key: str) -> int:
    """The integer under ``key`` in a ``ConfigRecord`` (a round, a partition id, a version)."""
    return int(number(record, key))


def summary_to_record(summary: Any | None) -> ConfigRecord:
    """A training summary (plain data) as JSON inside a ``ConfigRecord``."""
    from flwr.app import ConfigRecord

    return ConfigRecord({"summary": json.dumps(summary)})


def record_to_summary(record: ConfigRecord) -> Any | None:
    """Inverse of ``summary_to_record``."""
    return json.loads(str(record["summary"]))


def state_to_bytes(state: Any) -> bytes:
    """A learner's ``state_dict()`` (tensors and plain data) as bytes."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def bytes_to_state(data: bytes) -> Any:
    """Inverse of ``state_to_bytes``, loading tensors and plain data only (``weights_only``)."""
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)
