"""Comparison tables of final metrics, best first: every run in CSV, the best ones in Markdown."""

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


def to_markdown(rows: list[dict], columns=COLUMNS, limit: int | None = None, rest: str = "") -> str:
    """The first ``limit`` rows (all by default); ``rest`` says where the others are."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    if limit is not None and len(rows) > limit:
        lines += ["", f"{len(rows) - limit} more runs{rest}."]
    return "\n".join(lines) + "\n"


# What ``harness compare`` prints and the parent run shows: the best rows; every row is in the CSV.
MARKDOWN_ROWS = 25


def write_tables(rows: list[dict], directory: Path, stem: str = "comparison") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    rows = sort_rows(rows)
    csv_path, md_path = directory / f"{stem}.csv", directory / f"{stem}.md"
    atomic_write(csv_path, to_csv(rows))
    atomic_write(md_path, to_markdown(rows, limit=MARKDOWN_ROWS, rest=f" in {csv_path.name}"))
    return [csv_path, md_path]
