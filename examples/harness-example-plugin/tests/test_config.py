"""The plugin's Hydra options join harness's menus without any file in harness's conf/."""

from harness.testing import compose
from harness_example import plugin


def test_optimizer_lion_is_a_config_option():
    cfg = compose(["optimizer=lion"], plugins=[plugin])
    assert cfg.optimizer.name == "lion" and cfg.optimizer.lr == 3e-4


def test_model_gelu_mlp_uses_the_plugin_layers():
    cfg = compose(["model=gelu_mlp"], plugins=[plugin])
    assert [layer.type for layer in cfg.model.layers] == ["dense", "gelu", "gaussian_dropout", "maxout", "dense"]


def test_core_options_are_still_there():
    assert compose(["optimizer=adam"]).optimizer.name == "adam"


def test_schedule_and_dataset_options_and_the_target_section():
    cfg = compose(["schedule=warmup", "data=spirals", "target.val_accuracy=0.9"], plugins=[plugin])
    assert (cfg.schedule.name, cfg.data.name, cfg.target.val_accuracy) == ("warmup", "spirals", 0.9)
