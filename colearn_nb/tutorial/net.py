"""The convolutional network of colearn's PyTorch MNIST tutorial.

Taught in notebook 03.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class TutorialNet(nn.Module):
    """Two convolutions and two dense layers for 28x28 digits; outputs log-probabilities of 10 classes.

    >>> TutorialNet()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x.view(-1, 1, 28, 28))), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return F.log_softmax(self.fc2(x), dim=1)
