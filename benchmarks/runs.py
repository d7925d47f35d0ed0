"""What the benchmark scripts share: a quiet run's config, and a test-accuracy probe.

The probe scores the test set after every epoch, outside the timed part of the epoch,
to find when an accuracy is first reached. It only observes: nothing it measures feeds
back into the run (no early stop, no model selection), so a recipe chosen on validation
accuracy stays honest.
"""

from __future__ import annotations

import tempfile

from harness import hookimpl
from harness.training.evaluation import evaluate

QUIET = [
    "tracking=none", "progress=never", "diagnostics.enabled=false", "reports.plots=false",
    "training.checkpoint_every=0",
]


def compose_run(overrides: list[str]):
    """A benchmark run's config (no tracking, plots, diagnostics or checkpoints) and plugins."""
    from hydra import compose, initialize_config_dir

    from harness.plugins import activated, load_plugins
    from harness.resources import config_dir

    folder = tempfile.mkdtemp(prefix="harness-benchmark-")  # a run stopped by a signal writes its checkpoint here
    pm = load_plugins(use_env=False)
    with activated(pm), initialize_config_dir(version_base="1.3", config_dir=str(config_dir()), job_name="benchmark"):
        cfg = compose("config", overrides=[*QUIET, f"paths.project_dir={folder}", f"paths.output_dir={folder}", *overrides])
    return cfg, pm


class TestAccuracyProbe:
    """Test accuracy and training seconds after every epoch (the test set is scored untimed,
    with the run's test-time shifts if it has any)."""

    def __init__(self) -> None:
        self.model = self.data = None
        self.tta_shift = 0
        self.epochs: list[dict[str, float]] = []

    @hookimpl
    def harness_run_start(self, run, model, data):
        self.model, self.data = model, data
        self.tta_shift = run.config.model.tta_shift  # scored as the run scores its test set

    @hookimpl
    def harness_epoch_end(self, metrics):
        _, accuracy, _ = evaluate(self.model, self.data.test_x, self.data.test_y, 5000, self.tta_shift)
        seconds = (self.epochs[-1]["train_seconds"] if self.epochs else 0.0) + metrics["epoch_seconds"]
        self.epochs.append({"test_accuracy": accuracy, "val_accuracy": metrics.get("val_accuracy"),
                            "epoch_seconds": metrics["epoch_seconds"], "train_seconds": seconds})

    def time_to(self, target: float) -> tuple[int | None, float | None]:
        """(epochs, training seconds) when the test accuracy first reached ``target``."""
        for i, epoch in enumerate(self.epochs):
            if epoch["test_accuracy"] >= target:
                return i + 1, epoch["train_seconds"]
        return None, None


def train_with_probe(overrides: list[str], observers: tuple = ()):
    """Run the experiment ``overrides`` describe; return ``(outcome, probe)``.

    ``observers``: more plugins registered for the run (their hooks run untimed too)."""
    from harness.training.experiment import run_experiment

    cfg, pm = compose_run(overrides)
    probe = TestAccuracyProbe()
    pm.register(probe, name="benchmark-test-probe")
    for i, observer in enumerate(observers):
        pm.register(observer, name=f"benchmark-observer-{i}")
    return run_experiment(cfg, pm=pm), probe
