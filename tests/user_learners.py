"""Learners as users write them, with torch, numpy or scikit-learn and the public API only.

Each configuration builds ``N_LEARNERS`` learners after seeding, the way a user's factory would;
``factory(name)(i)`` builds learner ``i`` alone, as a Flower SuperNode does from its partition id.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, random_split

from colearn_nb import DiffPrivConfig, MachineLearningInterface, ProposedWeights, PytorchLearner, Weights

N_LEARNERS, N_SAMPLES = 3, 144


class MLP(nn.Module):
    def __init__(self, n_out=3):
        super().__init__()
        self.hidden, self.out = nn.Linear(4, 8), nn.Linear(8, n_out)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


class BatchNormDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                                    nn.Linear(16, 3))

    def forward(self, x):
        return self.layers(x)


class Dropout(nn.Module):
    """Dropout without BatchNorm, so that DP-SGD (opacus) can train it."""

    def __init__(self):
        super().__init__()
        self.hidden, self.drop, self.out = nn.Linear(4, 16), nn.Dropout(0.3), nn.Linear(16, 3)

    def forward(self, x):
        return self.out(self.drop(torch.relu(self.hidden(x))))


class Tied(nn.Module):
    """Two layers sharing one weight: ``second.weight`` is ``first.weight``."""

    def __init__(self):
        super().__init__()
        self.first, self.second, self.out = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 3)
        self.second.weight = self.first.weight

    def forward(self, x):
        return self.out(torch.relu(self.second(torch.relu(self.first(x)))))


class LabelOrder(MLP):
    """A non-float buffer beside the weights: the order of the outputs, as integers."""

    def __init__(self):
        super().__init__()
        self.register_buffer("order", torch.tensor([2, 0, 1]))

    def forward(self, x):
        return super().forward(x)[:, self.order]


class Output:
    """What a Hugging Face model returns: an object with ``.logits`` (and more)."""

    def __init__(self, logits, hidden):
        self.logits, self.hidden_states = logits, hidden


class DictInputs(MLP):
    """Keyword inputs, as from a dict batch; returns a dict with logits, or an object with ``.logits``."""

    def __init__(self, as_object=False):
        super().__init__()
        self.as_object = as_object

    def forward(self, features):
        hidden = torch.relu(self.hidden(features))
        return Output(self.out(hidden), hidden) if self.as_object else {"logits": self.out(hidden)}


class TwoInputs(nn.Module):
    """Two inputs, ``model(first, second)``; returns a tuple ``(logits, hidden)`` when asked to."""

    def __init__(self, as_tuple=False):
        super().__init__()
        self.first, self.second, self.out = nn.Linear(2, 8), nn.Linear(2, 8), nn.Linear(8, 3)
        self.as_tuple = as_tuple

    def forward(self, first, second):
        hidden = torch.relu(self.first(first) + self.second(second))
        return (self.out(hidden), hidden) if self.as_tuple else self.out(hidden)


class Samples(Dataset):
    """A dataset's ``(x, y)`` samples as users bring them: ``dict`` (Hugging Face ``datasets``), ``multi``
    (``(x1, x2, y)``) or ``nested`` (``((x1, x2), y)``)."""

    def __init__(self, dataset, kind):
        self.dataset, self.kind = dataset, kind

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return as_sample(*self.dataset[index], self.kind)


def as_sample(x, y, kind):
    """``(x, y)`` as a sample (or a batch) of ``kind``."""
    if kind == "dict":
        return {"features": x, "label": y}
    first, second = x[..., :2], x[..., 2:]
    return (first, second, y) if kind == "multi" else ((first, second), y)


class Stream(IterableDataset):
    def __init__(self, dataset):
        self.dataset = dataset

    def __iter__(self):
        yield from (self.dataset[i] for i in range(len(self.dataset)))


def classification_data(seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(N_SAMPLES, 4, generator=generator)
    labels = ((inputs[:, 0] > 0).long() + (inputs[:, 1] > 0.5).long()).clamp(max=2)
    return TensorDataset(inputs, labels)


def regression_data(seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(N_SAMPLES, 4, generator=generator)
    return TensorDataset(inputs, (inputs @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.3).unsqueeze(1))


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    return (outputs.argmax(1) == labels).float().mean().item()


def torch_learner(train_loader, vote_loader, test_loader=None, make_model: Callable[[], nn.Module] = MLP,
                  optimizer: str = "adam", regression=False, scheduler=False, groups=False, diff_priv=False,
                  **extra) -> PytorchLearner:
    """One learner on the given loaders: the user's model, optimizer, loss and vote score."""
    model = make_model()
    params = [{"params": [p]} for p in model.parameters()] if groups else model.parameters()
    opt = {"adam": lambda: torch.optim.Adam(params, lr=0.02),
           "adamw": lambda: torch.optim.AdamW(params, lr=0.02),
           "sgd": lambda: torch.optim.SGD(params, lr=0.1, momentum=0.9)}[optimizer]()
    return PytorchLearner(
        model=model, optimizer=opt, train_loader=train_loader, vote_loader=vote_loader,
        test_loader=test_loader, num_train_batches=3,
        criterion=nn.MSELoss() if regression else nn.CrossEntropyLoss(),
        vote_criterion=None if regression else accuracy, minimise_criterion=regression,
        scheduler=torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.8) if scheduler else None,
        diff_priv_config=(DiffPrivConfig(target_epsilon=8.0, target_delta=1e-3, planned_proposals=4)
                          if diff_priv else None), **extra)


def torch_learners(workers=0, drop_last=False, stream=False, samples=None, **spec) -> list[PytorchLearner]:
    """The colearn tutorial's way: random_split, DataLoaders without generator=, own model and optimizer."""
    data = regression_data() if spec.get("regression") else classification_data()
    learners = []
    for part in random_split(data, [1 / N_LEARNERS] * N_LEARNERS):
        train, vote, test = (Samples(each, samples) if samples else each
                             for each in random_split(part, [0.5, 0.25, 0.25]))
        train_loader = DataLoader(Stream(train) if stream else train, batch_size=8, shuffle=not stream,
                                  num_workers=workers, drop_last=drop_last)
        learners.append(torch_learner(train_loader, DataLoader(vote, batch_size=8),
                                      DataLoader(test, batch_size=8), **spec))
    return learners


class LeastSquares(MachineLearningInterface):
    """Numpy weights (a tuple of arrays), a loss to minimise, state for checkpoints."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(30, 3))
        self.y = self.x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=30)
        self.coef, self.intercept, self.vote_score = rng.normal(size=3), np.zeros(1), math.inf
        self.vote_score = self.score((self.coef, self.intercept))

    def score(self, weights) -> float:
        coef, intercept = weights
        return float(np.mean((self.x[:20] @ coef + intercept - self.y[:20]) ** 2))

    def mli_propose_weights(self) -> Weights:
        residual = self.x[20:] @ self.coef + self.intercept - self.y[20:]
        step = 0.1 * 2 * self.x[20:].T @ residual / 10
        return Weights(weights=(self.coef - step, self.intercept - 0.1 * 2 * residual.mean(keepdims=True)))

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        score = self.score(weights.weights)
        return ProposedWeights(weights, score, score, score < self.vote_score)

    def mli_accept_weights(self, weights: Weights) -> None:
        self.coef, self.intercept = (np.array(w, dtype=float) for w in weights.weights)
        self.vote_score = self.score(weights.weights)

    def mli_get_current_weights(self) -> Weights:
        return Weights(weights=(self.coef.copy(), self.intercept.copy()))

    def state_dict(self) -> dict:
        return {"coef": self.coef.copy(), "intercept": self.intercept.copy(), "vote_score": self.vote_score}

    def load_state_dict(self, state: dict) -> None:
        self.coef, self.intercept = state["coef"].copy(), state["intercept"].copy()
        self.vote_score = float(state["vote_score"])


class SGDLearner(MachineLearningInterface):
    """Notebook 06's learner: scikit-learn's SGDClassifier, weights (coef_, intercept_), no state_dict."""

    def __init__(self, seed: int, samples_per_round: int = 20):
        from sklearn.linear_model import SGDClassifier

        data = classification_data(seed)
        x, y = data.tensors[0].numpy().astype(np.float64), data.tensors[1].numpy()
        self.parts = {"train": (x[:80], y[:80]), "vote": (x[80:112], y[80:112]), "test": (x[112:], y[112:])}
        self.samples_per_round, self.start = samples_per_round, 0
        self.model = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.05, random_state=seed)
        self.model.partial_fit(x[:1], y[:1], classes=np.arange(3))
        self.vote_score = self.score(self.get_weights(), "vote")

    def get_weights(self):
        return self.model.coef_.copy(), self.model.intercept_.copy()

    def set_weights(self, weights) -> None:
        self.model.coef_, self.model.intercept_ = (np.array(w, dtype=float) for w in weights)

    def score(self, weights, part: str) -> float:
        current = self.get_weights()
        self.set_weights(weights)
        value = float(self.model.score(*self.parts[part]))
        self.set_weights(current)
        return value

    def mli_propose_weights(self) -> Weights:
        current, (x, y) = self.get_weights(), self.parts["train"]
        batch = np.arange(self.start, self.start + self.samples_per_round) % len(y)
        self.start = (self.start + self.samples_per_round) % len(y)
        self.model.partial_fit(x[batch], y[batch])
        proposal = Weights(weights=self.get_weights())
        self.set_weights(current)
        return proposal

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        vote_score = self.score(weights.weights, "vote")
        return ProposedWeights(weights, vote_score, self.score(weights.weights, "test"),
                               vote_score > self.vote_score)

    def mli_accept_weights(self, weights: Weights) -> None:
        self.set_weights(weights.weights)
        self.vote_score = self.score(weights.weights, "vote")

    def mli_get_current_weights(self) -> Weights:
        return Weights(weights=self.get_weights())


SPECS: dict[str, dict] = {  # torch configurations: torch_learners' arguments
    "mlp_adam": {},
    "batchnorm_dropout_sgd": {"make_model": BatchNormDropout, "optimizer": "sgd"},
    "dropout_adamw_dp": {"make_model": Dropout, "optimizer": "adamw", "diff_priv": True},
    "tied_adamw": {"make_model": Tied, "optimizer": "adamw"},
    "long_buffer_sgd": {"make_model": LabelOrder, "optimizer": "sgd"},
    "regression_mse": {"make_model": lambda: MLP(n_out=1), "optimizer": "sgd", "regression": True},
    "scheduler_param_groups": {"optimizer": "sgd", "scheduler": True, "groups": True},
    "two_workers_drop_last": {"make_model": Dropout, "workers": 2, "drop_last": True},
    "streaming_dataset": {"stream": True},
    "dict_batches_logits_object": {"make_model": lambda: DictInputs(as_object=True), "samples": "dict"},
    "two_inputs_x1_x2_y": {"make_model": TwoInputs, "samples": "multi", "optimizer": "adamw"},
    "nested_inputs_tuple_output": {"make_model": lambda: TwoInputs(as_tuple=True), "samples": "nested"},
}
CONFIGS: dict[str, Callable[[], list]] = {
    **{name: (lambda spec=spec: torch_learners(**spec)) for name, spec in SPECS.items()},
    "numpy_least_squares": lambda: [LeastSquares(seed) for seed in range(N_LEARNERS)],
    "sklearn_sgd": lambda: [SGDLearner(seed) for seed in range(N_LEARNERS)],
}
TORCH = list(SPECS)


def build(name: str) -> list:
    """Every learner of configuration ``name``, after seeding as a user's script does."""
    torch.manual_seed(0)
    np.random.seed(0)
    return CONFIGS[name]()


class Factory:
    """Learner ``i`` of a configuration, built alone (picklable, for Flower)."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, partition_id: int):
        return build(self.name)[partition_id]
