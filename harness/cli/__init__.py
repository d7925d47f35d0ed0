"""Command-line entry points: ``harness`` (tools) and ``harness-train`` (Hydra app)."""
