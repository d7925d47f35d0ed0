"""``optuna_study.png``: the objective per trial, parameter importances, one slice per parameter.

Drawn with matplotlib directly (Optuna's plots need plotly, or are experimental).
Failed trials are marked on the trial axis, so a diverging region is visible.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

log = logging.getLogger("harness.optuna")


def importances(study) -> dict[str, float]:
    """fANOVA importances, or {} when the completed trials cannot support them."""
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study)
    except Exception as exc:  # too few trials, a single distinct value, scikit-learn missing
        log.info("no parameter importances: %s", exc)
        return {}


def draw_study(study, path: Path, metric: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.trial import TrialState

    from harness import atomic_write

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    names = sorted({k for t in trials for k in t.params})
    maximize = study.direction.name == "MAXIMIZE"
    columns = max(2, len(names))
    fig, axes = plt.subplots(2, columns, figsize=(4.2 * columns, 7.4), squeeze=False)
    history, bars = axes[0][0], axes[0][1]
    for ax in axes[0][2:]:
        ax.axis("off")

    values = [t.value for t in complete]
    low = min(values) if values else 0.0
    history.scatter([t.number for t in complete], values, s=22, label="complete", zorder=3)
    if failed:
        history.scatter([t.number for t in failed], [low] * len(failed), marker="x", color="tab:red",
                        label="failed (diverged, error)", zorder=3)
    if complete:
        best, xs, ys = None, [], []
        for t in sorted(complete, key=lambda t: t.number):
            if best is None or (t.value > best if maximize else t.value < best):
                best = t.value
            xs.append(t.number)
            ys.append(best)
        history.step(xs, ys, where="post", color="tab:orange", label="best so far")
    history.set(xlabel="trial", ylabel=metric, title=f"{study.study_name}: {metric} per trial")
    history.legend(fontsize=8, loc="lower right" if maximize else "upper right")
    history.grid(alpha=0.3)
    history.xaxis.set_major_locator(MaxNLocator(integer=True))

    scores = importances(study)
    if scores:
        keys = list(scores)[::-1]
        bars.barh(keys, [scores[k] for k in keys], color="tab:green")
        bars.set(xlabel="importance (fANOVA)", title="parameter importance")
    else:
        bars.text(0.5, 0.5, "importances need more completed trials", ha="center", va="center",
                  transform=bars.transAxes)
        bars.set_axis_off()

    for ax, name in zip(axes[1], names):
        points = [(t.params[name], t.value) for t in complete if name in t.params]
        dist = next((t.distributions[name] for t in trials if name in t.distributions), None)
        if isinstance(dist, CategoricalDistribution):
            labels = [str(c) for c in dist.choices]
            ax.scatter([labels.index(str(p)) for p, _ in points], [v for _, v in points], s=22)
            ax.set_xticks(range(len(labels)), labels)
        else:
            ax.scatter([p for p, _ in points], [v for _, v in points], s=22)
            if isinstance(dist, (FloatDistribution, IntDistribution)) and dist.log:
                ax.set_xscale("log")
        bad = [t.params[name] for t in failed if name in t.params]
        if bad and isinstance(dist, CategoricalDistribution):
            bad = [labels.index(str(p)) for p in bad]
        if bad:
            ax.scatter(bad, [low] * len(bad), marker="x", color="tab:red")
        ax.set(xlabel=name, ylabel=metric, title=f"slice: {name}")
        ax.grid(alpha=0.3)
    for ax in axes[1][len(names):]:
        ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, buffer.getvalue())
