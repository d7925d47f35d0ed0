"""Where the Hydra configuration lives: inside the wheel, or in a checkout's ``conf/``."""

from __future__ import annotations

from pathlib import Path

import harness
from harness.errors import HarnessError

_PACKAGE_DIR = Path(harness.__file__).resolve().parent


def config_dir() -> Path:
    """``harness/conf`` in an installed wheel; ``<checkout>/conf`` in an editable install."""
    for candidate in (_PACKAGE_DIR / "conf", _PACKAGE_DIR.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise HarnessError(f"cannot find the harness configuration (config.yaml) next to {_PACKAGE_DIR}; reinstall harness")
