"""Comparison tables of final metrics, as CSV and Markdown, best first."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from harness import RunRecord, atomic_write

COLUMNS = ("run", "status", "test_accuracy", "best_val_accuracy", "test_loss", "epochs", "train_seconds")


def row_for(record: RunRecord) -> dict:
    """A table row of one run: its name, outcome (``diverged`` when that was its result) and final metrics."""
    m = record.summary
    return {
        "run": record.name, "status": record.outcome,
        "test_accuracy": m.get("test_accuracy"), "best_val_accuracy": m.get("best_val_accuracy"),
        "test_loss": m.get("test_loss"), "epochs": int(m["epochs"]) if "epochs" in m else None,
        "train_seconds": m.get("train_seconds"),
    }


def sort_rows(rows: list[dict]) -> list[dict]:
    """By test accuracy, best first; runs without one (failed) last."""
    return sorted(rows, key=lambda r: (r.get("test_accuracy") is None, -(r.get("test_accuracy") or 0.0)))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def to_csv(rows: list[dict], columns=COLUMNS) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def to_markdown(rows: list[dict], columns=COLUMNS) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write_tables(rows: list[dict], directory: Path, stem: str = "comparison") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rows = sort_rows(rows)
    csv_path, md_path = directory / f"{stem}.csv", directory / f"{stem}.md"
    atomic_write(csv_path, to_csv(rows))
    atomic_write(md_path, to_markdown(rows))
    return [csv_path, md_path]
