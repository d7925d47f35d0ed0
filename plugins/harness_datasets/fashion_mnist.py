"""Fashion-MNIST: the four canonical IDX files, obtained through the source chain.

Sources, in order: the cache (``<root>/fashion_mnist/``), the files Debian's package
``dataset-fashion-mnist`` installs under ``/usr/share/datasets/fashion-mnist/`` (gzipped
IDX; Debian recompressed them, so only the uncompressed digests are comparable), and
HTTPS mirrors of Zalando's canonical gzipped files. Every copy is verified against the
pinned digests of the uncompressed files before it enters the cache.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from harness_datasets.cache import cache_root
from harness_datasets.mnist import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, MnistArrays, read_mnist_files
from harness_datasets.sources import DatasetSpec, FileSpec, LocalDirectorySource, MirrorSource, Source, obtain

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where ``apt-get install dataset-fashion-mnist`` puts the gzipped IDX files."""

# Uncompressed digests: computed here from the Debian package's files and identical to
# the published SHA-256 of Zalando's uncompressed files. gz digests: TensorFlow Datasets'
# url_checksums/fashion_mnist.txt for Zalando's archives (MD5s match Zalando's README).
FASHION_MNIST = DatasetSpec(
    key="fashion_mnist",
    title="Fashion-MNIST",
    files=(
        FileSpec(TRAIN_IMAGES, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016,
                 "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        FileSpec(TRAIN_LABELS, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008,
                 "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        FileSpec(TEST_IMAGES, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016,
                 "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        FileSpec(TEST_LABELS, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008,
                 "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ),
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
    ),
)


def fashion_mnist_sources(mirrors: Sequence[str] | None = None, offline: bool = False) -> list[Source]:
    """The Fashion-MNIST chain after the cache: Debian's files, then (unless ``offline``) mirrors."""
    local: list[Source] = [LocalDirectorySource(DEBIAN_DIR, f"Debian package dataset-fashion-mnist ({DEBIAN_DIR})")]
    if offline:
        return local
    return [*local, MirrorSource(FASHION_MNIST.mirrors if mirrors is None else mirrors, FASHION_MNIST.title)]


def fetch_fashion_mnist(
    root: str | os.PathLike[str] | None = None, mirrors: Sequence[str] | None = None, offline: bool = False
) -> dict[str, Path]:
    """Make sure the four verified Fashion-MNIST IDX files are in ``<root>/fashion_mnist/``.

    ``offline``: use only the cache and Debian's files, never download.
    """
    return obtain(FASHION_MNIST, cache_root(root) / FASHION_MNIST.key, fashion_mnist_sources(mirrors, offline))


def load_fashion_mnist(
    root: str | os.PathLike[str] | None = None, mirrors: Sequence[str] | None = None
) -> MnistArrays:
    """Fetch if needed, then read Fashion-MNIST as uint8 arrays (60k train, 10k test)."""
    return read_mnist_files(fetch_fashion_mnist(root, mirrors), FASHION_MNIST.title)
