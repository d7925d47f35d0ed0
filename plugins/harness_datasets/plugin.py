"""Registers the datasets: MNIST, Fashion-MNIST (canonical IDX files), blobs, moons."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from harness import hookimpl
from harness_datasets.fashion_mnist import FASHION_MNIST, fetch_fashion_mnist
from harness_datasets.images import CHECK_OPTIONS, ImageDataset, ImageFiles
from harness_datasets.mnist import MNIST, fetch_mnist
from harness_datasets.moons import Moons
from harness_datasets.synthetic import Blobs


@hookimpl
def harness_register_datasets(register):
    register("mnist", _images(ImageFiles(MNIST, fetch_mnist)))
    register("fashion_mnist", _images(ImageFiles(FASHION_MNIST, fetch_fashion_mnist)))
    register("blobs", Blobs)
    register("moons", Moons)


def _images(files: ImageFiles) -> partial:
    """The factory of one image dataset, with the options ``harness check`` builds it with."""
    factory = partial(ImageDataset, files)
    factory.check_options = CHECK_OPTIONS  # type: ignore[attr-defined]
    return factory


@hookimpl
def harness_register_config_dirs(register):
    register(Path(__file__).parent / "conf")
