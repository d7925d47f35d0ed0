"""Datasets: MNIST and Fashion-MNIST from their IDX files, and small synthetic sets (blobs, two moons)."""

from harness_datasets.images import ImageDataset
from harness_datasets.moons import Moons, make_moons
from harness_datasets.synthetic import Blobs

__all__ = ["Blobs", "ImageDataset", "Moons", "make_moons"]
