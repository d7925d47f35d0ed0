"""Registers the diagnostics run-event hooks (filled in by issue 5)."""
