"""A damaged checkpoint (issue 12, item 7): verified on load, the other slot when it is
intact and older, else one line; a checkpoint downloaded for ``resume=<run id>`` is never
left behind in the temporary folder, whichever way the resume ends.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from harness import DataError
from harness.plugins import load_plugins
from harness.training import checkpoint
from harness.training.arrays import model_arrays
from harness.training.experiment import run_experiment
from interrupting import InterruptAt

HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))
RUN = [
    "data=blobs", "tracking=none", "progress=never", "training.epochs=4", "reports.plots=false",
    "model.layers=[{type:dense,units:16,init:he},{type:relu},{type:dropout,rate:0.3},{type:dense,units:3,init:xavier}]",
]


def trained(compose_config, overrides=()):
    """A finished 4-epoch run: its checkpoint holds epoch 4, and epoch 3 in the other slot."""
    outcome = run_experiment(compose_config([*RUN, *overrides]), pm=load_plugins(use_env=False))
    return outcome, Path(compose_config([]).paths.output_dir) / "checkpoint"


def current_and_previous(directory: Path) -> tuple[Path, Path]:
    manifest = json.loads((directory / checkpoint.MANIFEST).read_text())
    assert manifest["epoch"] == 4 and manifest["previous"]["epoch"] == 3
    return directory / manifest["arrays"], directory / manifest["previous"]["arrays"]


def test_the_manifest_pins_the_arrays_and_describes_the_previous_checkpoint(compose_config):
    _, directory = trained(compose_config)
    manifest = json.loads((directory / checkpoint.MANIFEST).read_text())
    from harness import sha256_file

    assert manifest["arrays_sha256"] == sha256_file(directory / manifest["arrays"])
    previous = manifest["previous"]
    assert previous["arrays"] != manifest["arrays"] and "previous" not in previous
    assert previous["arrays_sha256"] == sha256_file(directory / previous["arrays"])
    assert previous["step"] < manifest["step"]


@pytest.mark.parametrize("damage", ["truncated", "64 bytes flipped", "deleted"])
def test_a_damaged_checkpoint_resumes_from_the_previous_one_bit_for_bit(compose_config, tmp_path, caplog, damage):
    straight, directory = trained(compose_config)
    current, previous = current_and_previous(directory)
    if damage == "truncated":
        os.truncate(current, current.stat().st_size // 2)
    elif damage == "deleted":
        current.unlink()
    else:
        data = bytearray(current.read_bytes())
        middle = len(data) // 2
        data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
        current.write_bytes(bytes(data))
    caplog.set_level(logging.WARNING, logger="harness.train")
    resumed = run_experiment(compose_config([*RUN, f"resume={directory}", f"paths.output_dir={tmp_path / 'again'}"]),
                             pm=load_plugins(use_env=False))
    warnings = [r.getMessage() for r in caplog.records if "earlier checkpoint" in r.getMessage()]
    assert len(warnings) == 1 and f"resuming from the earlier checkpoint in {previous.name} instead (epoch 3" in warnings[0]
    assert str(current) in warnings[0]
    # Epoch 4 trained again from epoch 3's state: the same numbers as the run that was never damaged.
    final, again = model_arrays(straight.model), model_arrays(resumed.model)
    for key in final:
        assert np.array_equal(final[key], again[key]), key
    assert [row["val_loss"] for row in resumed.history] == [row["val_loss"] for row in straight.history]


def test_both_slots_damaged_is_one_line_naming_both(compose_config, tmp_path):
    _, directory = trained(compose_config)
    current, previous = current_and_previous(directory)
    os.truncate(current, 100)
    os.truncate(previous, 100)
    with pytest.raises(DataError) as refused:
        run_experiment(compose_config([*RUN, f"resume={directory}", f"paths.output_dir={tmp_path / 'again'}"]),
                       pm=load_plugins(use_env=False))
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{current}: corrupt checkpoint arrays (SHA-256 ")
    assert f"; the earlier checkpoint is unusable too: {previous}: corrupt checkpoint arrays" in message


def test_a_damaged_checkpoint_without_an_earlier_one_is_one_line_from_the_command(tmp_path):
    quick = [*RUN, "training.epochs=1", f"hydra.run.dir={tmp_path / 'run'}"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    first = subprocess.run([HARNESS_TRAIN, *quick], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    directory = tmp_path / "run" / "checkpoint"
    manifest = json.loads((directory / checkpoint.MANIFEST).read_text())
    assert "previous" not in manifest  # one epoch, one checkpoint
    os.truncate(directory / manifest["arrays"], 100)
    again = subprocess.run([HARNESS_TRAIN, f"resume={directory}", f"hydra.run.dir={tmp_path / 'again'}"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 2
    assert "Traceback" not in again.stderr and "BadZipFile" not in again.stderr
    last = again.stderr.strip().splitlines()[-1]
    assert last.startswith(f"harness-train: error: {directory / manifest['arrays']}: corrupt checkpoint arrays")
    assert last.endswith("; no earlier checkpoint to fall back to")


def test_a_checkpoint_without_a_digest_still_resumes(compose_config, tmp_path):
    """Checkpoints written before digests were added are read as before."""
    straight, directory = trained(compose_config)
    manifest = json.loads((directory / checkpoint.MANIFEST).read_text())
    del manifest["arrays_sha256"], manifest["previous"]
    (directory / checkpoint.MANIFEST).write_text(json.dumps(manifest))
    resumed = run_experiment(compose_config([*RUN, f"resume={directory}", f"paths.output_dir={tmp_path / 'again'}"]),
                             pm=load_plugins(use_env=False))
    assert resumed.summary["test_accuracy"] == straight.summary["test_accuracy"]


# ------------------------------------------------ resume=<run id>: no download left behind


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Temporary folders of this test only, to see what a resume leaves behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_resume_by_run_id_leaves_no_download_behind_on_success_or_failure(compose_config, tmp_path, private_tmp):
    from mlflow.tracking import MlflowClient

    from harness.training.interrupts import StopRequested

    tracked = ["tracking=mlflow", "tracking.log_model=false", "name=integrity"]
    pm = load_plugins(use_env=False)
    pm.register(InterruptAt(13), name="interrupt")
    with pytest.raises(StopRequested):
        run_experiment(compose_config([*RUN, *tracked]), pm=pm)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("integrity").experiment_id])
    run_id = run.info.run_id
    assert run.info.status == "KILLED"

    # The stored checkpoint is damaged, both slots (the store keeps every file uploaded): the
    # resume fails in one line ...
    uploaded = sorted(tmp_path.rglob(f"{run_id}/artifacts/checkpoint/arrays-*.npz"))
    assert len(uploaded) == 2
    originals = [path.read_bytes() for path in uploaded]
    for path in uploaded:
        path.write_bytes(b"x" * 100)
    with pytest.raises(DataError, match="corrupt checkpoint arrays"):
        run_experiment(compose_config([*RUN, *tracked, f"resume={run_id}"]), pm=load_plugins(use_env=False))
    assert list(private_tmp.iterdir()) == []  # ... and its download is gone

    for path, data in zip(uploaded, originals):
        path.write_bytes(data)
    run_experiment(compose_config([*RUN, *tracked, f"resume={run_id}"]), pm=load_plugins(use_env=False))
    assert list(private_tmp.iterdir()) == []
