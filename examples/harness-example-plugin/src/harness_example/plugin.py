"""The plugin module the ``harness`` entry point names: it registers everything here."""

from pathlib import Path

from harness import hookimpl
from harness_example.activations import GELU
from harness_example.datasets import Spirals
from harness_example.layers import GaussianDropout, Maxout
from harness_example.optimizers import Lion
from harness_example.schedules import Warmup
from harness_example.target import harness_epoch_end, harness_register_config_sections, harness_validate_config  # noqa: F401 (hooks)

ENGINE = "backprop"  # the layers follow the NumPy engine's forward/backward protocol


@hookimpl
def harness_register_layers(register):
    register(GaussianDropout.kind, GaussianDropout, engine=ENGINE)
    register(Maxout.kind, Maxout, engine=ENGINE)


@hookimpl
def harness_register_activations(register):
    register(GELU.kind, GELU, engine=ENGINE)


@hookimpl
def harness_register_optimizers(register):
    register(Lion.kind, Lion)


@hookimpl
def harness_register_schedules(register):
    register(Warmup.kind, Warmup)


@hookimpl
def harness_register_datasets(register):
    register("spirals", Spirals)


@hookimpl
def harness_register_config_dirs(register):
    """``conf/optimizer/lion.yaml`` and ``conf/model/gelu_mlp.yaml`` join harness's Hydra menus."""
    register(Path(__file__).parent / "conf")
