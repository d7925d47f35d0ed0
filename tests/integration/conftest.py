"""Integration tests: real services (PostgreSQL, a tracking server, cluster launchers).

They run with ``make test-integration``, which installs the extras they need and sets
``HARNESS_INTEGRATION=1`` (``.ci/run`` also installs Debian's ``postgresql`` first). In
a plain ``pytest`` run they are skipped with that hint, so ``make test`` stays quick
and needs no services; under ``HARNESS_INTEGRATION=1`` a missing service is a failure,
never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    requested = os.environ.get("HARNESS_INTEGRATION") == "1"
    skip = pytest.mark.skip(reason="integration test: run `make test-integration` (installs and starts what it needs)")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
            if not requested:
                item.add_marker(skip)
