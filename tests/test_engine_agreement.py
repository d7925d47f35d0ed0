"""Where ``engine=autograd`` trains step for step like ``engine=backprop`` (docs/engines.md).

Bit for bit, in float32 and float64, for every model option without batch
normalisation. With ``batch_norm`` the engines agree to round-off, not bit for bit: the
bias of a dense layer feeding a batch norm has a gradient that is zero in exact
arithmetic, and the two engines' different orders of operations leave different rounding
noise in it, which training then amplifies (in float32 visibly within an epoch).
"""

from __future__ import annotations

import pytest
import yaml

from harness.resources import config_dir
from harness.testing import train

MODELS = sorted(path.stem for path in (config_dir() / "model").glob("*.yaml"))
QUICK = ["data=blobs", "training.epochs=2", "diagnostics.enabled=false", "optimizer.lr=0.01", "optimizer.clip_norm=1",
         "gd.batch_size=64"]


def has_batch_norm(model: str) -> bool:
    return "batch_norm" in (config_dir() / "model" / f"{model}.yaml").read_text()


def history(model: str, engine: str, dtype: str) -> list[float]:
    outcome = train([f"model={model}", f"engine={engine}", f"dtype={dtype}", *QUICK])
    return [value for epoch in outcome.result.history for value in (epoch["train_loss"], epoch["val_loss"])] + [
        outcome.summary["test_loss"]]


def test_the_model_options_are_the_ones_this_test_knows():
    assert MODELS == ["deep_mlp", "deep_mlp_bn", "deep_mlp_residual", "mlp"]
    assert [m for m in MODELS if has_batch_norm(m)] == ["deep_mlp_bn"]
    assert all(isinstance(yaml.safe_load((config_dir() / "model" / f"{m}.yaml").read_text()), dict) for m in MODELS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", [m for m in MODELS if not has_batch_norm(m)])
def test_without_batch_norm_the_engines_train_bit_for_bit_alike(model, dtype):
    assert history(model, "autograd", dtype) == history(model, "backprop", dtype)


@pytest.mark.parametrize("model", [m for m in MODELS if has_batch_norm(m)])
def test_with_batch_norm_they_agree_to_round_off(model):
    backprop, autograd = history(model, "backprop", "float64"), history(model, "autograd", "float64")
    assert autograd == pytest.approx(backprop, rel=1e-9)
    # The docs say float32 runs are not bit for bit the same here; if they become so,
    # say it in docs/engines.md and drop this line.
    assert history(model, "autograd", "float32") != history(model, "backprop", "float32")
