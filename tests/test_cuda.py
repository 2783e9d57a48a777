"""Learners on a CUDA device, built the user's way: rounds, checkpoints across devices, the tutorial's Net.

Skipped without a GPU (CI has none); run on a machine with one: ``python -m pytest tests/test_cuda.py``.
"""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, random_split
from user_learners import MLP, N_LEARNERS, accuracy, classification_data

from colearn_nb import (
    PytorchLearner,
    Results,
    TutorialNet,
    categorical_accuracy,
    learner_loaders,
    load_checkpoint,
    load_mnist,
    run_rounds,
    save_checkpoint,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def users_learners(device: str) -> list[PytorchLearner]:
    """The user's MLP and Adam on plain shuffled DataLoaders of CPU tensors, the model on ``device``."""
    torch.manual_seed(0)
    learners = []
    for part in random_split(classification_data(), [1 / N_LEARNERS] * N_LEARNERS):
        train, vote, test = random_split(part, [0.5, 0.25, 0.25])
        model = MLP()
        learners.append(PytorchLearner(
            model=model, optimizer=torch.optim.Adam(model.parameters(), lr=0.02),
            train_loader=DataLoader(train, batch_size=8, shuffle=True),
            vote_loader=DataLoader(vote, batch_size=8),
            test_loader=DataLoader(test, batch_size=8), num_train_batches=3, criterion=nn.CrossEntropyLoss(),
            vote_criterion=accuracy, minimise_criterion=False, device=device))
    return learners


def same_weights(learners: list[PytorchLearner]) -> bool:
    first = learners[0].model.state_dict()
    return all(torch.equal(first[name].cpu(), learner.model.state_dict()[name].cpu())
               for learner in learners[1:] for name in first)


def test_rounds_on_cuda_end_with_equal_weights_on_the_gpu_and_json_results():
    learners = users_learners("cuda")
    results = run_rounds(learners, 6, vote_threshold=0.5)
    assert all(p.is_cuda for learner in learners for p in learner.model.parameters())
    assert same_weights(learners) and results.n_accepted >= 1
    assert Results.from_dict(json.loads(results.to_json())).to_json() == results.to_json()
    assert all(math.isfinite(score) for score in results.shared_model_scores)


def test_a_cuda_checkpoint_resumes_on_the_cpu_and_back(tmp_path):
    gpu = users_learners("cuda")
    results = run_rounds(gpu, 3, vote_threshold=0.5)
    save_checkpoint(tmp_path / "gpu.pt", gpu, results)
    cpu = users_learners("cpu")
    resumed = load_checkpoint(tmp_path / "gpu.pt", cpu)
    assert resumed.to_json() == results.to_json()
    for gpu_learner, cpu_learner in zip(gpu, cpu, strict=True):
        for name, tensor in gpu_learner.model.state_dict().items():
            assert torch.equal(tensor.cpu(), cpu_learner.model.state_dict()[name])
    more = run_rounds(cpu, 2, vote_threshold=0.5, results=resumed)
    save_checkpoint(tmp_path / "cpu.pt", cpu, more)
    back = users_learners("cuda")
    load_checkpoint(tmp_path / "cpu.pt", back)
    assert all(p.is_cuda for learner in back for p in learner.model.parameters()) and same_weights(back)


def test_the_tutorials_net_learns_on_cuda_as_on_the_cpu():
    """Five MNIST learners with the tutorial's Net learn on the GPU as on the CPU (to float noise)."""
    finals = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        train_data, test_data = load_mnist()
        learners = []
        for part in learner_loaders(train_data, test_data, 5, batch_size=64, seed=0):
            model = TutorialNet()
            learners.append(PytorchLearner(
                model=model, optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), train_loader=part.train,
                vote_loader=part.vote, test_loader=part.test, num_train_batches=4, num_test_batches=2,
                criterion=nn.NLLLoss(), vote_criterion=categorical_accuracy, minimise_criterion=False,
                device=device))
        finals[device] = run_rounds(learners, 10, vote_threshold=0.5).shared_model_scores[-1]
    assert finals["cuda"] > 0.7 and abs(finals["cuda"] - finals["cpu"]) < 0.05, finals
