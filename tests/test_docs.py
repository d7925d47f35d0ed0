"""The documentation cannot drift from the code: every example in it runs."""

from __future__ import annotations



from doc_runner import ROOT, blocks, run_page

PLUGINS = ROOT / "docs" / "plugins.md"


def test_the_plugin_guide_runs_as_written(tmp_path):
    """Every block of docs/plugins.md, in order: the package it builds, installed, trained
    with, checked by `harness check`, and its tests."""
    run_page(PLUGINS, tmp_path)


def test_the_plugin_guide_covers_every_component_kind():
    text = PLUGINS.read_text()
    for hook in ("harness_register_layers", "harness_register_activations", "harness_register_losses",
                 "harness_register_optimizers", "harness_register_schedules", "harness_register_datasets",
                 "harness_register_engines", "harness_register_config_dirs", "harness_register_config_sections",
                 "harness_validate_config", "harness_run_artifacts", "harness_compare_runs", "harness_epoch_end"):
        assert any(hook in block.text for block in blocks(PLUGINS) if block.language == "python"), \
            f"docs/plugins.md has no working example of {hook}"
    assert "ConfigError" in text and "harness.validation" in text
