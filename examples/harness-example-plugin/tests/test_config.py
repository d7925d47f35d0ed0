"""The plugin's Hydra options join harness's menus without any file in harness's conf/."""

from hydra import compose, initialize_config_dir

from harness.resources import config_dir


def _compose(overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="example"):
        return compose("config", overrides=overrides)


def test_optimizer_lion_is_a_config_option():
    cfg = _compose(["optimizer=lion"])
    assert cfg.optimizer.name == "lion" and cfg.optimizer.lr == 3e-4


def test_model_gelu_mlp_uses_the_plugin_layers():
    cfg = _compose(["model=gelu_mlp"])
    assert [layer.type for layer in cfg.model.layers] == ["dense", "gelu", "gaussian_dropout", "maxout", "dense"]


def test_core_options_are_still_there():
    assert _compose(["optimizer=adam"]).optimizer.name == "adam"
