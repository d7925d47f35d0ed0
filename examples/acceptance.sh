#!/usr/bin/env bash
# A third-party plugin installed the way users do it (issue 4's acceptance, run by CI):
# pip install into the project environment, listed by `harness plugins`, passing
# `harness check`, trained with through Hydra overrides and recorded in MLflow, its own
# tests green; and the deliberately broken fixture failing the check by name.
# The plugin is uninstalled again at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
PLUGIN=examples/harness-example-plugin

work=$(mktemp -d)
if "$BIN/python" -m pip show --quiet harness-example-plugin 2>/dev/null; then
  trap 'rm -rf "$work"' EXIT  # it was installed before: leave it as it was
else
  trap '"$BIN/python" -m pip uninstall --quiet --yes harness-example-plugin; rm -rf "$work"' EXIT
fi
"$BIN/python" -m pip install --quiet "./$PLUGIN"

echo "== harness plugins"
# (not `tee /dev/stderr`: when output goes to a log file, reopening it truncates the log)
listing=$("$BIN/harness" plugins)
echo "$listing"
grep -q '^example 0.1.0' <<<"$listing" || { echo "acceptance: 'harness plugins' does not list the example plugin" >&2; exit 1; }

echo "== harness check --plugin example"
"$BIN/harness" check --plugin example

echo "== harness-train with its optimizer and layers"
# Every kind the plugin ships at once: its layers and activation, its optimizer, its per-step
# schedule, its dataset and its run-event hook (stop once validation reaches the target).
(cd "$work" && "$BIN/harness-train" optimizer=lion optimizer.lr=0.003 schedule=warmup data=spirals \
    'model.layers=[{type:dense,units:32},{type:gelu},{type:gaussian_dropout,rate:0.1},{type:maxout,units:16,pieces:2},{type:dense,units:3}]' \
    training.epochs=40 target.val_accuracy=0.9 progress=never name=example_plugin > train.log 2>&1 || { tail -20 train.log; exit 1; })
"$BIN/python" - "$work/mlflow.db" <<'PY'
import sys
from mlflow.tracking import MlflowClient
client = MlflowClient(f"sqlite:///{sys.argv[1]}")
(run,) = client.search_runs([client.get_experiment_by_name("example_plugin").experiment_id])
assert run.info.status == "FINISHED", run.info.status
params = run.data.params
assert (params["optimizer.name"], params["schedule.name"], params["data.name"]) == ("lion", "warmup", "spirals"), params
stopped = run.data.tags.get("harness.stopped_by", "")
assert stopped.startswith("validation accuracy"), f"the target hook did not stop the run: {stopped!r}"
print(f"recorded in MLflow: run {run.info.run_id} FINISHED, test accuracy {run.data.metrics['test_accuracy']:.3f}; {stopped}")
PY

echo "== the plugin's own test suite"
(cd "$PLUGIN" && "$BIN/python" -m pytest -q -p no:cacheprovider tests)

echo "== the broken fixture fails, naming component, parameter and error"
set +e
PYTHONPATH=tests/fixtures/broken_plugin "$BIN/harness" check --plugin broken > "$work/broken.txt" 2>&1
status=$?
set -e
cat "$work/broken.txt"
test "$status" -eq 1
grep -q 'backprop:broken_dense \[central_difference\] b: relative error .* FAILED' "$work/broken.txt"
echo "example plugin acceptance: all passed"
