"""Registers the autograd engines (filled in by the autograd work, issue 3)."""
