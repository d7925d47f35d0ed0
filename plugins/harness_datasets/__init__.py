"""Datasets: MNIST and Fashion-MNIST from their IDX files, and small synthetic sets."""

from harness_datasets.images import ImageDataset
from harness_datasets.synthetic import Blobs

__all__ = ["Blobs", "ImageDataset"]
