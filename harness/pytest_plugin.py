"""The pytest plugin shipped with harness (entry point ``pytest11``).

A third-party plugin's test suite runs the whole conformance suite on its components
with a marker and one argument, no import needed::

    import pytest

    @pytest.mark.harness_conformance(plugin="myplugin")
    def test_conformance(harness_check):
        harness_check()

Each component × check becomes its own test (``test_conformance[backprop:gelu-
central_difference]``). Without the marker, ``harness_check`` runs over every installed
plugin. :func:`harness.testing.parametrize_with_checks` is the same as a decorator.

This module is imported by every pytest run in an environment where harness is
installed, so it loads nothing until a test asks for ``harness_check``.
"""

from __future__ import annotations

MARKER = "harness_conformance"
ARGNAME = "harness_check"


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(plugin=None, checker=None, plugins=()): give the test's `{ARGNAME}` argument one harness "
        "conformance check per component and checker (of one plugin, or of one checker; `plugins` registers "
        "plugin modules not installed yet)",
    )


def pytest_generate_tests(metafunc) -> None:
    if ARGNAME not in metafunc.fixturenames:
        return
    from harness.testing import conformance_checks

    marker = metafunc.definition.get_closest_marker(MARKER)
    options = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        options.setdefault("plugin", marker.args[0])
    checks = conformance_checks(**options)
    metafunc.parametrize(ARGNAME, checks, ids=[c.id for c in checks])
