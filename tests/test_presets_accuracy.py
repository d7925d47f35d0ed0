"""The speed presets on real MNIST: their accuracy is asserted, their time only reported.

``mnist_fast`` is the recipe that reaches 98 % test accuracy in the least training time
(``benchmarks/fast_preset_search.py`` chose it on validation accuracy); ``mnist_best`` is
the most accurate MLP trained within three minutes. Marked ``slow`` and ``network``
(the first use fetches MNIST).
"""

from __future__ import annotations

import pytest

from harness.testing import train

pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_mnist_fast_reaches_98_percent():
    outcome = train(["+experiment=mnist_fast"])
    print(f"\nmnist_fast: test accuracy {100 * outcome.summary['test_accuracy']:.2f}% after "
          f"{outcome.summary['epochs']} epochs, {outcome.summary['train_seconds']:.2f} s of training")
    assert outcome.summary["test_accuracy"] >= 0.98


@pytest.mark.slow(minutes=15)  # 70 epochs of a 784-800-800-10 model: the suite's longest test
def test_mnist_best_reaches_99_3_percent():
    # Seed 0 scores 99.32 % with two BLAS threads (99.20 % without test-time augmentation).
    outcome = train(["+experiment=mnist_best"])
    print(f"\nmnist_best: test accuracy {100 * outcome.summary['test_accuracy']:.2f}% after "
          f"{outcome.summary['epochs']} epochs, {outcome.summary['train_seconds']:.1f} s of training")
    assert outcome.summary["test_accuracy"] >= 0.993
