"""Registers the datasets: MNIST, Fashion-MNIST (canonical IDX files), blobs, moons."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from harness import hookimpl
from harness_datasets.fashion_mnist import FASHION_MNIST, fetch_fashion_mnist
from harness_datasets.images import ImageDataset, ImageFiles
from harness_datasets.mnist import MNIST, fetch_mnist
from harness_datasets.moons import Moons
from harness_datasets.synthetic import Blobs


@hookimpl
def harness_register_datasets(register):
    register("mnist", partial(ImageDataset, ImageFiles(MNIST, fetch_mnist)))
    register("fashion_mnist", partial(ImageDataset, ImageFiles(FASHION_MNIST, fetch_fashion_mnist)))
    register("blobs", Blobs)
    register("moons", Moons)


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")
