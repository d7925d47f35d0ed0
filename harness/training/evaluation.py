"""Loss and accuracy of a model over a whole split, in memory-bounded chunks."""

from __future__ import annotations

import numpy as np

from harness.training import views


def evaluate(model, x: np.ndarray, y: np.ndarray, chunk: int, tta_shift: int = 0) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and predicted classes of ``model`` on ``(x, y)``; with
    ``tta_shift``, of the mean outputs over shifted views (:mod:`harness.training.views`)."""
    total_loss = 0.0
    predictions = np.empty(len(y), dtype=np.int64)
    for start in range(0, len(y), chunk):
        stop = min(start + chunk, len(y))
        loss, outputs = views.outputs(model, x[start:stop], y[start:stop], tta_shift)
        total_loss += loss * (stop - start)
        predictions[start:stop] = outputs.argmax(axis=1)
    return total_loss / len(y), float(np.mean(predictions == y)), predictions
