"""Registers the datasets."""

from functools import partial

from harness import hookimpl
from harness.data.fashion_mnist import load_fashion_mnist
from harness.data.mnist import load_mnist
from harness_datasets.images import ImageDataset
from harness_datasets.moons import Moons
from harness_datasets.synthetic import Blobs


@hookimpl
def harness_register_datasets(register):
    register("mnist", partial(ImageDataset, load_mnist))
    register("fashion_mnist", partial(ImageDataset, load_fashion_mnist))
    register("blobs", Blobs)
    register("moons", Moons)
