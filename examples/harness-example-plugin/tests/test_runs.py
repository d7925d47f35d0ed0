"""The plugin's schedule, dataset and run-event hook in real (tiny) runs, installed or not."""

from harness.testing import train
from harness_example import plugin

SPIRALS_MLP = "model.layers=[{type: dense, units: 32}, {type: gelu}, {type: dense, units: 3}]"


def test_the_target_hook_stops_a_run_once_validation_reaches_it(tmp_path):
    outcome = train(["data=spirals", SPIRALS_MLP, "optimizer=lion", "optimizer.lr=0.01", "training.epochs=60",
                     "target.val_accuracy=0.8"], plugins=[plugin], output_dir=tmp_path)
    assert outcome.result.status == "FINISHED"
    assert outcome.result.stopped_by.startswith("validation accuracy")
    assert outcome.history[-1]["val_accuracy"] >= 0.8 and len(outcome.history) < 60


def test_without_a_target_the_run_goes_to_its_last_epoch(tmp_path):
    outcome = train(["data=spirals", SPIRALS_MLP, "training.epochs=2"], plugins=[plugin], output_dir=tmp_path)
    assert outcome.result.stopped_by is None and len(outcome.history) == 2


def test_warmup_raises_the_rate_step_by_step_over_its_first_epoch(tmp_path):
    from harness import hookimpl

    class Rates:
        seen: list[float] = []

        @hookimpl
        def harness_step_end(self, lr):
            self.seen.append(lr)

    train(["data=spirals", SPIRALS_MLP, "schedule=warmup", "optimizer=sgd", "optimizer.lr=0.1", "training.epochs=2"],
          plugins=[plugin, Rates()], output_dir=tmp_path)
    per_epoch = len(Rates.seen) // 2
    first = Rates.seen[:per_epoch]
    assert first == sorted(first) and len(set(first)) == per_epoch and abs(first[0] - 0.01) < 1e-12
    assert Rates.seen[per_epoch:] == [0.1] * (len(Rates.seen) - per_epoch)
