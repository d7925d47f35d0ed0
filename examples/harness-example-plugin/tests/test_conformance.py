"""The harness conformance suite on this plugin's components: one test per component and check.

Nothing to import: harness's pytest plugin (loaded through its ``pytest11`` entry point)
parametrises ``harness_check`` for the tests carrying the marker.
"""

import pytest


@pytest.mark.harness_conformance(plugin="example")
def test_conformance(harness_check):
    harness_check()
