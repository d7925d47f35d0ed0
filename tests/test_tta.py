"""Test-time augmentation (``model.tta_shift``): the views, the averaging, and that a run,
its EMA score and a saved model all predict the same way."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from harness import ConfigError, predict_classes
from harness.plugins import get_registry
from harness.testing import QUIET, train
from harness.training.evaluation import evaluate
from harness.training.views import image_side, outputs, shift_images, views
from harness.training.weights import load_model_files, save_model_files


class Linear:
    """A model whose scores are ``x @ w`` and whose loss is their mean: easy to average by hand."""

    def __init__(self, w: np.ndarray):
        self.w = w

    def evaluate(self, x, y):
        scores = x @ self.w
        return float(scores.mean()), scores


def one_pixel(side: int, row: int, col: int) -> np.ndarray:
    image = np.zeros((1, side, side), dtype=np.float32)
    image[0, row, col] = 1.0
    return image.reshape(1, side * side)


@pytest.mark.parametrize("dy, dx", [(1, 0), (-1, 0), (0, 2), (0, -2), (1, -1)])
def test_a_shift_moves_every_pixel_and_fills_the_border_with_zeros(dy, dx):
    side = 5
    moved = shift_images(one_pixel(side, 2, 2), dy, dx, side)
    assert moved.reshape(side, side)[2 + dy, 2 + dx] == 1.0 and moved.sum() == 1.0
    edge = shift_images(np.ones((1, side * side), dtype=np.float32), dy, dx, side).reshape(side, side)
    assert edge.sum() == (side - abs(dy)) * (side - abs(dx))  # what moved in from outside is zero


def test_the_views_are_the_image_then_up_down_left_right():
    side = 5
    x = one_pixel(side, 2, 2)
    found = [np.argwhere(view.reshape(side, side))[0].tolist() for view in views(x, 2)]
    assert found == [[2, 2], [0, 2], [4, 2], [2, 0], [2, 4]]
    assert views(x, 1)[0] is x


def test_outputs_are_the_mean_over_the_views_and_unchanged_without_shift():
    rng = np.random.default_rng(0)
    x, w = rng.random((7, 16)), rng.standard_normal((16, 3))
    model = Linear(w)
    loss, scores = outputs(model, x, np.zeros(7, dtype=np.int64), 1)
    expected = np.mean([v @ w for v in views(x, 1)], axis=0)
    np.testing.assert_allclose(scores, expected)
    assert loss == pytest.approx(np.mean([(v @ w).mean() for v in views(x, 1)]))
    plain_loss, plain = outputs(model, x, np.zeros(7, dtype=np.int64), 0)
    np.testing.assert_array_equal(plain, x @ w)
    assert not np.allclose(plain, scores)  # the views do change a model that is not shift-invariant


def test_evaluate_and_predict_classes_agree_chunk_by_chunk():
    rng = np.random.default_rng(1)
    x, w = rng.random((23, 36)).astype(np.float32), rng.standard_normal((36, 4)).astype(np.float32)
    y = rng.integers(0, 4, 23)
    _, accuracy, predictions = evaluate(Linear(w), x, y, chunk=5, tta_shift=2)
    np.testing.assert_array_equal(predictions, predict_classes(Linear(w), x, np.float32, chunk=7, tta_shift=2))
    np.testing.assert_array_equal(predictions, np.mean([v @ w for v in views(x, 2)], axis=0).argmax(axis=1))
    assert accuracy == np.mean(predictions == y)


@pytest.mark.parametrize("input_dim, shift, message", [
    (8, 1, "need square images as inputs, but this dataset's inputs have 8 features"),
    (784, 28, "must be between 1 and 27 for 28×28 images"),
])
def test_inputs_that_cannot_be_shifted_are_a_one_line_error(input_dim, shift, message):
    with pytest.raises(ConfigError, match=message):
        image_side(input_dim, shift)


def test_a_run_on_vectors_is_refused_before_training():
    with pytest.raises(ConfigError, match=r"model.tta_shift=1: test-time shifts need square images"):
        train(["data=blobs", "model.tta_shift=1", *QUIET])


@pytest.mark.network
def test_a_run_scores_its_test_set_with_the_views_and_a_saved_model_predicts_the_same(tmp_path):
    data = {"train_size": 2000, "test_size": 1000, "shift": 1}
    outcome = train([*(f"data.{k}={v}" for k, v in data.items()), "training.epochs=2", "model.tta_shift=1",
                     "+averaging.kind=ema", *QUIET])
    settings, model = outcome.run.config, outcome.model
    splits = get_registry().create("dataset", "mnist", data, section="data").load().astype(np.float32)
    with_views = predict_classes(model, splits.test_x, np.float32, tta_shift=1)
    assert outcome.summary["test_accuracy"] == np.mean(with_views == splits.test_y)
    assert not np.array_equal(with_views, predict_classes(model, splits.test_x, np.float32))
    ema = np.mean(predict_classes(model, splits.val_x, np.float32, tta_shift=1) == splits.val_y)
    assert outcome.summary["ema_val_accuracy"] == ema

    spec, weights = save_model_files(tmp_path, model, engine="backprop", layers=settings.model.layers,
                                     loss=settings.model.loss, dtype=settings.dtype, input_dim=784, num_classes=10,
                                     tta_shift=settings.model.tta_shift)
    loaded, saved_spec = load_model_files(spec, weights)
    assert saved_spec["tta_shift"] == 1
    np.testing.assert_array_equal(
        predict_classes(loaded, splits.test_x, np.float32, tta_shift=saved_spec["tta_shift"]), with_views)

    from harness_mlflow.pyfunc_model import HarnessClassifier  # the code a logged model runs

    classifier = HarnessClassifier()
    classifier.load_context(SimpleNamespace(artifacts={"spec": str(spec), "weights": str(weights)}))
    np.testing.assert_array_equal(classifier.predict(None, splits.test_x), with_views)
