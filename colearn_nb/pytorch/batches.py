"""How a learner reads a batch and a model's output: ``(inputs, labels)``, dicts, several inputs, ``.logits``.

A batch is split by ``inputs_targets(batch) -> (inputs, targets)``; ``inputs`` is a tensor (the model is
called as ``model(inputs)``), a tuple or list of them (``model(*inputs)``) or a dict (``model(**inputs)``),
and ``targets`` a tensor. The model's output is read by ``logits(output) -> tensor``; criteria and vote
criteria receive that tensor. The defaults (``split_batch``, ``read_logits``) read the common cases.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeGuard, cast

import torch
from torch.utils.data import DataLoader, IterableDataset

LABEL_KEYS = ("label", "labels", "target", "targets", "y")
HINT = "pass inputs_targets=lambda batch: (inputs, targets) to the learner"


class SplitBatch(NamedTuple):
    """A batch already split into inputs and targets; every learner reads it as it is."""

    inputs: Any
    targets: torch.Tensor


def describe(value: Any) -> str:
    """A short description of a batch or an output, for errors.

    >>> describe({"image": torch.zeros(2, 3), "label": torch.zeros(2)})
    "a dict with keys ['image', 'label']"
    """
    if isinstance(value, Mapping):
        return f"a {type(value).__name__} with keys {list(value)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} ({', '.join(type(v).__name__ for v in value)})"
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def split_batch(batch: Any) -> tuple[Any, Any]:
    """The default ``inputs_targets``: a dict's label key (``LABEL_KEYS``) or a sequence's last element.

    >>> split_batch({"image": 1, "label": 2}), split_batch((1, 2, 3)), split_batch([[1, 2], 3])
    (({'image': 1}, 2), ((1, 2), 3), ([1, 2], 3))
    """
    if isinstance(batch, SplitBatch):
        return batch.inputs, batch.targets
    if isinstance(batch, Mapping):
        keys = [key for key in LABEL_KEYS if key in batch]
        if len(keys) != 1:
            found = "none" if not keys else f"more than one ({', '.join(keys)})"
            raise ValueError(f"the batch is {describe(batch)}; {found} of {', '.join(LABEL_KEYS)} names the "
                             f"targets: {HINT}")
        return {key: value for key, value in batch.items() if key != keys[0]}, batch[keys[0]]
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        inputs = batch[0] if len(batch) == 2 else tuple(batch[:-1])
        return inputs, batch[-1]
    raise ValueError(f"the batch is {describe(batch)}; expected (inputs, targets), (input1, ..., targets) or "
                     f"a dict with a key {' / '.join(LABEL_KEYS)}: {HINT}")


def read_logits(output: Any) -> torch.Tensor:
    """The default ``logits``: a tensor itself, a tuple's first element, a dict's or object's ``logits``.

    >>> read_logits((torch.ones(1), "hidden")), read_logits({"logits": torch.zeros(1)})
    (tensor([1.]), tensor([0.]))
    """
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    elif isinstance(output, Mapping) and "logits" in output:
        output = output["logits"]
    elif not isinstance(output, torch.Tensor) and hasattr(output, "logits"):
        output = output.logits
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"the model returned {describe(output)}; expected a tensor, a tuple whose first "
                         "element is one, or a dict or object with logits: pass logits=lambda output: ... "
                         "to the learner")
    return output


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor inside (tuples, lists, dicts) moved to ``device``; the rest kept."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        items = [to_device(item, device) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)  # named tuples too
    return value


def call_model(model: Callable, inputs: Any) -> Any:
    """``model(**inputs)`` for a dict, ``model(*inputs)`` for a tuple or list, else ``model(inputs)``."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def first_batch(loader: Iterable) -> Any:
    """The first batch of ``loader``, read without changing torch's random state or the loader's generators.

    Raises ``StopIteration`` when it yields nothing and ``ValueError`` when it can be read only once.
    """
    generators = loader_generators(loader)
    states = [generator.get_state() for generator in generators]
    try:
        with torch.random.fork_rng(devices=[]):
            if _has_workers(loader):  # read here: starting worker processes for one batch takes long
                indices = next(iter(cast(Iterable, loader.batch_sampler)))
                many = getattr(loader.dataset, "__getitems__", None)
                return loader.collate_fn(many(indices) if many else [loader.dataset[i] for i in indices])
            iterator = iter(loader)
            batch = next(iterator)
    finally:
        for generator, state in zip(generators, states, strict=True):
            generator.set_state(state)
    if iterator is loader:
        raise ValueError("it is an iterator, which can be read only once; expected a DataLoader or another "
                         "iterable read anew each time")
    return batch


def _has_workers(loader: Any) -> TypeGuard[DataLoader]:
    """Whether ``loader`` is a ``DataLoader`` batching a map-style dataset in worker processes."""
    return (isinstance(loader, DataLoader) and loader.num_workers > 0 and loader.batch_sampler is not None
            and not isinstance(loader.dataset, IterableDataset))


def loader_generators(loader: Any) -> list[torch.Generator]:
    """The generators a loader shuffles with: its own and its sampler's (each once)."""
    sampler, batch_sampler = getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)
    found = [getattr(loader, "generator", None), getattr(sampler, "generator", None),
             getattr(batch_sampler, "generator", None),
             getattr(getattr(batch_sampler, "sampler", None), "generator", None)]
    unique = {id(g): g for g in found if isinstance(g, torch.Generator)}
    return list(unique.values())


class BatchReading:
    """A learner's way of reading batches and outputs: ``inputs_targets`` and ``logits`` (None: defaults).

    >>> reading = BatchReading()
    >>> model = torch.nn.Linear(3, 2)
    >>> inputs, targets = reading.split({"x": torch.zeros(4, 3), "label": torch.zeros(4)})
    >>> tuple(reading.logits_of(lambda x: {"logits": model(x)}, inputs).shape)
    (4, 2)
    """

    def __init__(self, inputs_targets: Callable[[Any], tuple[Any, Any]] | None = None,
                 logits: Callable[[Any], torch.Tensor] | None = None, device: torch.device | None = None):
        for name, value in (("inputs_targets", inputs_targets), ("logits", logits)):
            if value is not None and not callable(value):
                raise ValueError(f"{name}: got {type(value).__name__}; expected a function or None")
        self.inputs_targets = inputs_targets or split_batch
        self.logits = logits or read_logits
        self.device = device

    def split(self, batch: Any) -> tuple[Any, torch.Tensor]:
        """``(inputs, targets)`` of ``batch``, on ``device`` (None: where they are)."""
        reader = split_batch if isinstance(batch, SplitBatch) else self.inputs_targets
        split = reader(batch)
        if not isinstance(split, (tuple, list)) or len(split) != 2:
            raise ValueError(f"inputs_targets: returned {describe(split)}; expected (inputs, targets)")
        inputs, targets = split
        if self.device is None:
            return inputs, targets
        return to_device(inputs, self.device), to_device(targets, self.device)

    def logits_of(self, model: Callable, inputs: Any) -> torch.Tensor:
        """The logits of ``model`` on ``inputs``."""
        return self.logits(call_model(model, inputs))

    @torch.no_grad()
    def check(self, name: str, loader: Iterable, model: torch.nn.Module, criterion: Callable) -> None:
        """Run ``loader``'s first batch (put back) through the model and ``criterion``; raise naming it."""
        batch = _named(name, "reading ", lambda: first_batch(loader), "")
        custom = self.inputs_targets is not split_batch  # the kit's own errors describe the batch
        inputs, targets = _named(name, "splitting ", lambda: self.split(batch),
                                 f"the first batch is {describe(batch)}" if custom else "")
        was_training = model.training
        model.eval()
        try:
            output = _named(name, "the model failed on ", lambda: call_model(model, inputs),
                            f"the first batch's inputs are {describe(inputs)}; {HINT}, with inputs it takes")
        finally:
            model.train(was_training)
        logits = _named(name, "reading the model's output on ", lambda: self.logits(output),
                        f"the model returned {describe(output)}" if self.logits is not read_logits else "")
        for what, value in (("targets", targets), ("logits", logits)):
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"{name}: the {what} of the first batch are {describe(value)}; expected a "
                                 f"tensor: pass {'inputs_targets' if what == 'targets' else 'logits'}=...")
        _named(name, "criterion(logits, targets) failed on ", lambda: criterion(logits, targets),
               f"logits of shape {tuple(logits.shape)}, targets of shape {tuple(targets.shape)}")


def _named(name: str, doing: str, action: Callable[[], Any], context: str) -> Any:
    """``action()``, or a ``ValueError`` naming the loader, what failed and ``context``."""
    try:
        return action()
    except StopIteration:
        raise ValueError(f"{name}: yielded no batches; give this learner some data") from None
    except Exception as exc:
        kind = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
        raise ValueError(f"{name}: {doing}the first batch: {kind}{exc}{f' ({context})' if context else ''}") \
            from exc


def flatten(value: Any) -> tuple[list[torch.Tensor], Callable[[list[torch.Tensor]], Any]]:
    """The tensors inside ``value`` (dicts, tuples, lists), in order, and a function putting others in place.

    >>> tensors, rebuild = flatten({"x": (torch.zeros(1), torch.zeros(2)), "label": torch.zeros(3)})
    >>> [len(t) for t in tensors], rebuild([torch.ones(1), torch.ones(2), torch.ones(3)])["x"][1]
    ([1, 2, 3], tensor([1., 1.]))
    """
    if isinstance(value, torch.Tensor):
        return [value], lambda tensors: tensors[0]
    if not isinstance(value, (Mapping, tuple, list)):
        raise ValueError(f"got {describe(value)} inside the batch; expected tensors in dicts, tuples, lists")
    keys = list(value) if isinstance(value, Mapping) else list(range(len(value)))
    parts = [flatten(value[key]) for key in keys]
    sizes = [len(tensors) for tensors, _ in parts]

    def rebuild(tensors: list[torch.Tensor]) -> Any:
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        items = [part(tensors[start:start + size])
                 for (_, part), start, size in zip(parts, starts, sizes, strict=True)]
        if isinstance(value, Mapping):
            return dict(zip(keys, items, strict=True))
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)

    return [tensor for tensors, _ in parts for tensor in tensors], rebuild
