"""The plugin's Hydra options join harness's menus without any file in harness's conf/."""

from harness.testing import compose


def test_optimizer_lion_is_a_config_option():
    cfg = compose(["optimizer=lion"])
    assert cfg.optimizer.name == "lion" and cfg.optimizer.lr == 3e-4


def test_model_gelu_mlp_uses_the_plugin_layers():
    cfg = compose(["model=gelu_mlp"])
    assert [layer.type for layer in cfg.model.layers] == ["dense", "gelu", "gaussian_dropout", "maxout", "dense"]


def test_core_options_are_still_there():
    assert compose(["optimizer=adam"]).optimizer.name == "adam"
