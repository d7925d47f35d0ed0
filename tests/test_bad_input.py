"""Bad input that used to train something else than asked, or die in a traceback
(issue 12: oversized validation split, batch larger than the data, a layer too large for
memory, a run name that is a path). Each is refused in one line naming the options.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import ConfigError, init_weights
from harness.kit import initializers
from harness.memory import check_parameter_memory, parameter_count
from harness.training.experiment import run_experiment

HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))
QUICK = ["data=blobs", "tracking=none", "progress=never", "training.epochs=1", "reports.plots=false",
         "model.layers.4.units=3"]


# --------------------------------------------------------- item 6: the validation split


def test_a_validation_split_that_leaves_fewer_training_examples_than_asked_is_refused(plugins):
    from harness.registry import Registry

    with pytest.raises(ConfigError) as refused:
        Registry(plugins).create("dataset", "mnist", {"val_size": 59_999, "train_size": 2000}, section="data")
    message = str(refused.value)
    assert message == ("data.train_size must be at most 1: data.val_size=59999 leaves 1 of the 60000 training "
                       "images (lower data.train_size or data.val_size), got 2000")
    # What is left is enough: accepted (and nothing is loaded to decide it).
    Registry(plugins).create("dataset", "mnist", {"val_size": 58_000, "train_size": 2000}, section="data")


@pytest.mark.slow
@pytest.mark.network
def test_a_validation_split_that_leaves_less_than_one_batch_is_refused(compose_config, plugins):
    with pytest.raises(ConfigError) as refused:
        run_experiment(compose_config(["tracking=none", "progress=never", "data.val_size=59999"]), pm=plugins)
    assert str(refused.value) == (
        "gd.batch_size=128 is more than the 1 training example of data 'mnist'; use gd.batch_size <= 1, gd=batch "
        "(every example in every step) or more training data (data.train_size / data.val_size)"
    )


# ------------------------------------------------------- items 6 and 13: a batch too big


def test_a_batch_larger_than_the_training_set_is_refused_naming_both(compose_config, plugins):
    # blobs: 1200 examples, 720 of them for training.
    with pytest.raises(ConfigError) as refused:
        run_experiment(compose_config([*QUICK, "gd.batch_size=10000000"]), pm=plugins)
    assert str(refused.value) == (
        "gd.batch_size=10000000 is more than the 720 training examples of data 'blobs'; use gd.batch_size <= 720, "
        "gd=batch (every example in every step) or more training data (data.train_size / data.val_size)"
    )


def test_the_batch_size_a_run_records_is_the_one_it_uses(compose_config, plugins):
    outcome = run_experiment(compose_config([*QUICK, "gd.batch_size=720"]), pm=plugins)
    assert outcome.run.batch_size == 720 == int(outcome.run.params["gd.batch_size"])
    assert outcome.run.steps_per_epoch == 1
    whole = run_experiment(compose_config([*QUICK, "gd=batch"]), pm=plugins)
    assert whole.run.batch_size == whole.run.sizes["train"] == 720


# ------------------------------------------------ item 15: a model that cannot fit memory


def test_parameter_count_reads_dense_units_and_nested_blocks():
    specs = [{"type": "dense", "units": 10}, {"type": "relu"},
             {"type": "residual", "layers": [{"type": "dense", "units": 10}, {"type": "relu"}]},
             {"type": "dense", "units": 3}]
    assert parameter_count(specs, 784) == (784 * 10 + 10) + (10 * 10 + 10) + (10 * 3 + 3)


def test_a_layer_too_large_for_memory_is_refused_before_anything_is_built(compose_config, plugins, monkeypatch):
    from harness import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 8 << 30)  # an 8 GiB machine, whatever this one is
    cfg = compose_config([*QUICK, "model.layers.0.units=100000000"])
    with pytest.raises(ConfigError) as refused:
        run_experiment(cfg, pm=plugins)
    message = str(refused.value)
    # 8 inputs x 1e8 units + 1e8 biases, 1e8 x 128 + 128, 128 x 3 + 3 (data=blobs, the default mlp)
    assert message == ("model.layers: 13,700,000,515 float32 parameters need 102.1 GiB with their gradients, "
                       "more than the 8.0 GiB of memory available; use fewer units")


def test_the_memory_check_uses_the_dtype_and_lets_what_fits_through():
    specs = [{"type": "dense", "units": 1000}]
    assert check_parameter_memory(specs, 999, "float32", available=8_000_000) == 1000 * 1000 * 4 * 2
    with pytest.raises(ConfigError, match="float64 parameters need 15.3 MiB"):
        check_parameter_memory(specs, 999, "float64", available=8_000_000)


@pytest.mark.parametrize("scheme", ["he", "xavier", "normal"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(784, 128), (37, 5), (1, 9), (300, 1)])
def test_weights_drawn_in_blocks_are_the_same_bits_as_one_draw(scheme, dtype, shape):
    fan_in, fan_out = shape
    reference = initializers.SCHEMES[scheme](np.random.default_rng(7), fan_in, fan_out,
                                             initializers.DEFAULT_SCALE[scheme]).astype(dtype)
    for block in (1, fan_out, 3 * fan_out + 1, initializers.BLOCK_VALUES):  # one row, whole rows, a ragged end
        rng = np.random.default_rng(7)
        drawn = init_weights(scheme, rng, fan_in, fan_out, dtype, block_values=block)
        assert drawn.dtype == np.dtype(dtype) and drawn.shape == shape
        assert drawn.tobytes() == reference.tobytes()
        # ... and the generator is left where one draw leaves it (the next layer's weights agree too).
        after = np.random.default_rng(7)
        after.standard_normal((fan_in, fan_out))
        assert rng.random() == after.random()


def test_a_float32_layer_never_allocates_a_float64_copy_of_itself():
    import tracemalloc

    fan_in, fan_out = 4000, 1000  # 16 MB in float32, 32 MB as a float64 draw
    tracemalloc.start()
    try:
        weights = init_weights("he", np.random.default_rng(0), fan_in, fan_out, "float32")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert weights.nbytes == 16_000_000
    assert peak < weights.nbytes + 2 * 8 * initializers.BLOCK_VALUES  # the result plus one block's scratch


# ------------------------------------------------------------- item 16: names, not paths


def test_a_name_that_is_a_path_is_refused_and_nothing_is_written_outside(tmp_path):
    launch = tmp_path / "a" / "b" / "c" / "launch"
    launch.mkdir(parents=True)
    result = subprocess.run(
        [HARNESS_TRAIN, "name=../../../escaped_out", *QUICK], cwd=launch, capture_output=True, text=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}, timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "harness-train: error: name must be a name without path separators (it names folders and "
        "experiments), got '../../../escaped_out'"
    )
    assert "Traceback" not in result.stderr
    escaped = [p for p in tmp_path.rglob("*escaped_out*") if launch not in p.parents]
    assert escaped == []
    (folder,) = (launch / "outputs").iterdir()  # the folder Hydra made, one level below outputs/
    assert folder.name == ".._.._.._escaped_out"


def test_the_run_folder_resolver_keeps_names_and_flattens_paths():
    from omegaconf import OmegaConf

    import harness.config  # noqa: F401  (registers the resolver)

    cfg = OmegaConf.create({"name": "mnist_98", "dir": "outputs/${harness.safe_name:${name}}/t"})
    assert cfg.dir == "outputs/mnist_98/t"
    for name, folder in (("../x", ".._x"), ("/etc", "_etc"), ("..", "_.."), ("a\\b", "a_b")):
        cfg.name = name
        assert cfg.dir == f"outputs/{folder}/t"
