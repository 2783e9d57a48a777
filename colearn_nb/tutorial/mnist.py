"""Real MNIST digits: torchvision's full set when it is on disk, otherwise the sample shipped here.

Taught in notebooks 01 and 02.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

log = logging.getLogger(__name__)

DEFAULT_ROOT = os.environ.get("PYTORCH_DATA_DIR", os.path.join(os.path.expanduser("~"), "pytorch_datasets"))
FAILED_MARKER = ".colearn_nb_download_failed"
RETRY_AFTER_S = 24 * 3600
SAMPLE_TEST_SIZE = 1000
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _sample_arrays() -> Arrays:
    """The 5,000 shipped digits cut once, by a fixed seed, into 4,000 train and 1,000 test."""
    with resources.files("colearn_nb.tutorial").joinpath("mnist_5k.npz").open("rb") as f:
        arrays = np.load(f)
        images, labels = arrays["images"], arrays["labels"].astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = order[SAMPLE_TEST_SIZE:], order[:SAMPLE_TEST_SIZE]
    return images[train], labels[train], images[test], labels[test]


def _download_recently_failed(root: Path) -> bool:
    marker = root / FAILED_MARKER
    return marker.exists() and time.time() - marker.stat().st_mtime < RETRY_AFTER_S


def _torchvision_arrays(root: Path, download: bool) -> Arrays | None:
    """Full MNIST from torchvision when on disk (or downloadable, if asked); None otherwise."""
    on_disk = (root / "MNIST" / "raw").is_dir()
    if not on_disk and (not download or _download_recently_failed(root)):
        return None
    try:
        from torchvision.datasets import MNIST as TorchvisionMNIST

        train = TorchvisionMNIST(str(root), train=True, download=download)
        test = TorchvisionMNIST(str(root), train=False, download=download)
    except Exception as exc:  # no network, a partial download, no torchvision
        log.warning("MNIST: torchvision's copy is not available (%s); using the shipped sample", exc)
        if download:
            try:
                root.mkdir(parents=True, exist_ok=True)
                (root / FAILED_MARKER).touch()
            except OSError:
                pass
        return None
    return train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy()


def mnist_arrays(root: str | None = None, download: bool = False) -> Arrays:
    """MNIST as uint8 images and int64 labels: ``(train_images, train_labels, test_images, test_labels)``."""
    root_path = Path(root or DEFAULT_ROOT).expanduser()
    offline = os.environ.get("COLEARN_NB_OFFLINE", "") not in ("", "0")
    arrays = None if offline else _torchvision_arrays(root_path, download)
    if arrays is not None:
        log.info("MNIST: torchvision's full set from %s (%d train, %d test digits)",
                 root_path, len(arrays[1]), len(arrays[3]))
        return arrays
    arrays = _sample_arrays()
    log.info("MNIST: the %d real digits shipped with colearn_nb (%d train, %d test); put torchvision's "
             "MNIST under %s for the full set", len(arrays[1]) + len(arrays[3]), len(arrays[1]),
             len(arrays[3]), root_path)
    return arrays


def _as_dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    inputs = torch.from_numpy(images).unsqueeze(1).float().div_(255)
    return TensorDataset(inputs, torch.from_numpy(labels).long())


def load_mnist(root: str | None = None, download: bool = False) -> tuple[TensorDataset, TensorDataset]:
    """Train and test sets of real MNIST digits as tensors: inputs ``(N, 1, 28, 28)`` in [0, 1], labels.

    torchvision's full MNIST when it is under ``root`` (or, with ``download=True``, can be
    downloaded; a failed download is not retried for a day), otherwise the 5,000 digits
    shipped with the package. Set ``COLEARN_NB_OFFLINE=1`` to always use the shipped digits.

    >>> train, test = load_mnist()
    >>> train.tensors[0].shape[1:], test.tensors[1].dtype
    (torch.Size([1, 28, 28]), torch.int64)
    """
    train_images, train_labels, test_images, test_labels = mnist_arrays(root, download)
    return _as_dataset(train_images, train_labels), _as_dataset(test_images, test_labels)


class MNIST(Dataset):
    """A drop-in for ``torchvision.datasets.MNIST`` that uses the shipped digits when offline.

    With ``transform=transforms.ToTensor()`` items are made from tensors directly, without PIL.
    """

    def __init__(self, root: str = DEFAULT_ROOT, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False):
        train_images, train_labels, test_images, test_labels = mnist_arrays(root, download)
        images, labels = (train_images, train_labels) if train else (test_images, test_labels)
        self.data, self.targets = torch.from_numpy(images), torch.from_numpy(labels).long()
        self.transform, self.target_transform, self.train = transform, target_transform, train
        self._to_tensor = type(transform).__name__ == "ToTensor"

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return f"MNIST({'train' if self.train else 'test'}, {len(self)} digits)"

    def __getitem__(self, index: int):
        target = int(self.targets[index])
        if self._to_tensor:
            image = self.data[index].unsqueeze(0).float().div_(255)
        else:
            from PIL import Image

            image = Image.fromarray(self.data[index].numpy(), mode="L")
            if self.transform is not None:
                image = self.transform(image)
        return image, (self.target_transform(target) if self.target_transform else target)
