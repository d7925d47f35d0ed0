"""What a sweep's parent run shows when its children are folded away.

The best child is chosen by validation accuracy (``best_val_accuracy``), as a run
chooses its best epoch; the test set is only reported, never selected on. The parent
gets that child's ``best_val_accuracy``, ``test_accuracy`` and ``test_loss`` under the
same names the children use, so the runs table lines parent and children up in the
same columns, plus ``children_finished`` / ``children_failed`` and tags naming the
best child. Each configuration counts once (a sweep re-run after a crash leaves the
superseded attempt beside the new one).
"""

from __future__ import annotations

from dataclasses import dataclass

SELECT_BY = "best_val_accuracy"
CARRIED = ("best_val_accuracy", "test_accuracy", "test_loss")


@dataclass(frozen=True)
class SweepSummary:
    metrics: dict[str, float]
    tags: dict[str, str]
    note: str  # markdown for the parent's description


def summarize(children) -> SweepSummary:
    """``children``: one MLflow run per configuration (see ``compare.latest_per_config``)."""
    finished = [c for c in children if c.info.status == "FINISHED"]
    metrics = {"children_finished": float(len(finished)), "children_failed": float(len(children) - len(finished))}
    tags: dict[str, str] = {}
    ranked = [c for c in finished if SELECT_BY in c.data.metrics]
    lines = [f"{len(finished)} of {len(children)} configurations finished."]
    if ranked:
        best = max(ranked, key=lambda c: (c.data.metrics[SELECT_BY], -(c.info.start_time or 0)))
        metrics.update({k: float(best.data.metrics[k]) for k in CARRIED if k in best.data.metrics})
        tags = {"harness.best_child": best.info.run_name or best.info.run_id, "harness.best_child_run_id": best.info.run_id}
        test = best.data.metrics.get("test_accuracy")
        lines.insert(0, f"Best by validation accuracy: **{tags['harness.best_child']}** "
                        f"(validation {best.data.metrics[SELECT_BY]:.4f}"
                        + (f", test {test:.4f})" if test is not None else ")"))
    return SweepSummary(metrics, tags, "\n\n".join(lines))
