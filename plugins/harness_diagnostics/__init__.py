"""Gradient-flow diagnostics: per-layer gradient norms, activation statistics, update ratios."""
