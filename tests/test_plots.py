"""The figures themselves, inspected after drawing: every text inside the figure and clear
of the titles, titles that say what the panels show, whole-number epoch ticks, plain
labels on log axes, curves that do not hide one another."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from harness_diagnostics.summary import Row, summary_figure
from harness_reports import plots


def _renderer(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _tick_labels(axis):
    """The tick labels drawn: those of ticks inside the axis' view."""
    low, high = sorted(axis.get_view_interval())
    ticks = list(zip(axis.get_majorticklocs(), axis.get_majorticklabels()))
    ticks += list(zip(axis.get_minorticklocs(), axis.get_minorticklabels()))
    return [(loc, label) for loc, label in ticks if low <= loc <= high and label.get_visible() and label.get_text()]


def drawn_texts(fig) -> list:
    """Every text a reader sees: titles, axis and tick labels, legends, annotations."""
    texts = [t for t in fig.texts if t.get_text()]
    if fig._suptitle is not None:
        texts.append(fig._suptitle)
    for legend in fig.legends:
        texts += legend.get_texts()
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            texts += [label for _, label in _tick_labels(axis)]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def texts_outside(fig) -> list[str]:
    renderer = _renderer(fig)
    box = fig.bbox
    outside = []
    for text in drawn_texts(fig):
        extent = text.get_window_extent(renderer)
        if extent.x0 < box.x0 - 1 or extent.y0 < box.y0 - 1 or extent.x1 > box.x1 + 1 or extent.y1 > box.y1 + 1:
            outside.append(text.get_text())
    return outside


def history(n: int, start_loss: float = 2.3, end_loss: float = 0.05, seconds: float = 1.0) -> list[dict]:
    losses = np.geomspace(start_loss, end_loss, n)
    return [{"train_loss": float(loss), "val_loss": float(loss) * 1.1, "train_accuracy": 1 - float(loss) / 3,
             "val_accuracy": 1 - float(loss) / 2.5, "epoch_seconds": seconds} for loss in losses]


# ------------------------------------------------------------ comparison.png


def test_comparison_title_matches_its_panels_and_values_are_the_recorded_fractions():
    runs = [("gd=sgd", history(4)), ("gd=batch", history(4, 2.0, 1.0))]
    fig = plots.comparison_figure(runs, metric="val_accuracy", title="gd_comparison")
    by_epoch, by_time = fig.axes
    assert fig._suptitle.get_text() == "gd_comparison: val_accuracy"  # no "per epoch" over a time panel
    assert (by_epoch.get_title(), by_epoch.get_xlabel()) == ("per epoch", "epoch")
    assert (by_time.get_title(), by_time.get_xlabel()) == ("against training time", "training time (s)")
    for ax in (by_epoch, by_time):
        assert ax.get_ylabel() == "val_accuracy"
        for line, (_, points) in zip(sorted(ax.get_lines(), key=lambda line: line.get_label()), sorted(runs)):
            assert list(line.get_ydata()) == [h["val_accuracy"] for h in points]  # fractions, as MLflow has them
    assert texts_outside(fig) == []


def test_comparison_has_one_legend_for_both_panels_inside_the_figure():
    runs = [(f"optimizer.lr={lr} seed={seed}", history(3)) for lr in (0.01, 0.1) for seed in (1, 2)]
    fig = plots.comparison_figure(runs, title="sweep")
    renderer = _renderer(fig)
    assert [ax.get_legend() for ax in fig.axes] == [None, None]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [name for name, _ in runs]
    box = legend.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1
    for ax in fig.axes:  # below the panels, not over them
        assert not box.overlaps(ax.get_window_extent(renderer))


def test_a_big_sweep_names_its_best_runs_and_draws_the_others_behind_them(tmp_path):
    from harness import RunRecord
    from harness_reports.plugin import harness_compare_runs

    runs = [(f"seed={i}", history(3, end_loss=0.05 + i / 1000)) for i in range(256)]  # seed=0 is the best
    fig = plots.comparison_figure(runs, metric="val_accuracy", title="seeds")
    (legend,) = fig.legends
    names = [t.get_text() for t in legend.get_texts()]
    assert names == [f"seed={i}" for i in range(plots.TOP)] + [f"{256 - plots.TOP} other runs"]
    assert len(fig.axes[0].get_lines()) == 256  # every run is drawn
    assert "10 of 256 runs named: the highest val_accuracy" in fig._suptitle.get_text()
    assert texts_outside(fig) == []
    by_loss = plots.comparison_figure(runs, metric="val_loss")
    assert [t.get_text() for t in by_loss.legends[0].get_texts()][0] == "seed=0"  # lowest loss first
    records = [RunRecord(name=name, status="FINISHED", history=points, summary={"test_accuracy": points[-1]["val_accuracy"]})
               for name, points in runs]
    made = harness_compare_runs(runs=records, folder=tmp_path, title="seeds", metric="val_accuracy")
    table = {p.suffix: p.read_text() for p in made if p.suffix in (".csv", ".md")}
    assert len(table[".csv"].splitlines()) == 257  # a header and every run
    shown = [line for line in table[".md"].splitlines() if line.startswith("| seed=")]
    assert len(shown) == 25 and shown[0].startswith("| seed=0 |")
    assert table[".md"].rstrip().endswith("231 more runs in comparison.csv.")


def test_curves_that_coincide_stay_distinguishable():
    matched_epochs = history(5)
    matched_time = history(5) + history(15, 0.05, 0.01)  # the same first epochs, then more
    fig = plots.comparison_figure([("budget=epochs", matched_epochs), ("budget=time", matched_time)])
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    short, long = lines["budget=epochs"], lines["budget=time"]
    assert list(short.get_ydata()) == list(long.get_ydata())[:5]
    assert short.get_zorder() > long.get_zorder()  # the shorter curve is drawn on top
    assert (short.get_linestyle(), short.get_marker()) != (long.get_linestyle(), long.get_marker())


def test_epoch_axes_have_whole_number_ticks():
    for fig, ax_index in ((plots.comparison_figure([("a", history(3))]), 0), (plots.learning_curves_figure(history(3)), 0),
                          (plots.learning_curves_figure(history(3)), 1)):
        _renderer(fig)
        locs = [loc for loc, _ in _tick_labels(fig.axes[ax_index].xaxis)]
        assert locs and all(float(loc).is_integer() for loc in locs), locs


# ------------------------------------------------------------ learning_curves.png


@pytest.mark.parametrize("start, end, log", [(2.3, 0.01, True), (2.0, 0.15, True), (2.0, 1.8, False)])
def test_loss_axis_labels_are_plain_numbers(start, end, log):
    fig = plots.learning_curves_figure(history(6, start, end), title="run")
    loss_ax = fig.axes[0]
    _renderer(fig)
    assert (loss_ax.get_yscale() == "log") is log  # a log axis only when the losses span a decade
    labels = [label.get_text() for _, label in _tick_labels(loss_ax.yaxis)]
    assert 2 <= len(labels) <= 12  # a scale can be read off: one label alone cannot show it
    for text in labels:
        assert "times" not in text and "$" not in text and "×" not in text
        float(text.replace("\u2212", "-"))  # plain numbers: 0.1, 2, 1.8
    assert texts_outside(fig) == []


# ------------------------------------------------------- diagnostics_summary.png


def _rows(activations, inits) -> list[Row]:
    rows = []
    for activation in activations:
        for init in inits:
            for remedy, factor in (("none", 1.0), ("batch_norm", 1e3), ("residual", 1e2), ("clipping", 1.0)):
                ratio = 10.0 ** (-8 if activation == "sigmoid" else -1) * factor
                rows.append(Row(f"{activation}-{init}-{remedy}", "r", "FINISHED", activation, init, remedy, 0,
                                ratio=ratio, input_ratio=ratio * 3, accuracy=0.5 + 0.1 * math.log10(factor)))
    chosen = ("sigmoid", "normal")
    for row in rows:
        if (row.activation, row.init) == chosen:
            row.profile = {f"{i}.dense": 10.0 ** -i for i in range(0, 12, 2)}
    return rows


@pytest.mark.parametrize("activations, inits", [(("sigmoid", "relu"), ("normal",)),
                                                (("relu", "sigmoid", "tanh", "leaky_relu"), ("normal", "he", "xavier"))])
def test_diagnostics_summary_texts_stay_inside_and_clear_of_the_titles(activations, inits):
    rows = _rows(activations, inits)
    fig = summary_figure(rows, ("sigmoid", "normal"), title="vanishing")
    renderer = _renderer(fig)
    assert texts_outside(fig) == []
    titles = [fig._suptitle] + [ax.title for ax in fig.axes if ax.get_title()]
    colorbar_labels = [ax.yaxis.label for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbar_labels) == 3
    for label in colorbar_labels:
        for title in titles:
            assert not label.get_window_extent(renderer).overlaps(title.get_window_extent(renderer)), (label.get_text(), title.get_text())
    profile_ax = fig.axes[3]
    assert all(float(loc).is_integer() for loc, _ in _tick_labels(profile_ax.xaxis))


def test_misclassified_grid_captions_each_wrong_image_above_it_scaled_to_its_own_range(tmp_path):
    images = np.zeros((12, 28 * 28), dtype=np.float32)
    for k in range(12):
        images[k, k::12] = 0.5 + 0.1 * k  # each image its own pattern and range
    labels = np.arange(12) % 10
    predictions = labels.copy()
    wrong = [1, 4, 5, 7, 8, 9, 10, 11, 2, 3, 6]  # 11 wrong: two rows of 9 columns
    predictions[wrong] = (labels[wrong] + 1) % 10
    fig = plots.misclassified_figure(images, labels, predictions, count=10)
    assert fig is not None and len(fig.axes) == 1
    ax = fig.axes[0]
    shown = sorted(wrong)[:10]
    assert [t.get_text() for t in ax.texts] == [f"{labels[k]} → {predictions[k]}" for k in shown]
    mosaic = ax.images[0].get_array()
    for text, k in zip(ax.texts, shown):
        x, y = text.get_position()
        tile = mosaic[int(y) + 1:int(y) + 29, int(x) - 14:int(x) + 14]
        expected = images[k].reshape(28, 28)
        assert np.allclose(tile, (expected - expected.min()) / (expected.max() - expected.min()))
    assert "11 in all" in fig._suptitle.get_text()
    renderer = _renderer(fig)  # the axis is off: its tick labels are not drawn, the captions are
    assert all(fig.bbox.contains(*corner) for t in [*ax.texts, fig._suptitle]
               for corner in t.get_window_extent(renderer).corners())
    assert plots.misclassified_grid(images, labels, labels, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


# ------------------------------------------------------- per-run plots in sweeps


@pytest.mark.parametrize("option, single, job", [("auto", True, False), (True, True, True), (False, False, False)])
def test_a_sweep_job_draws_its_own_plots_only_when_asked(tmp_path, option, single, job):
    from harness import RunInfo, RunResult, Splits, SweepJob
    from harness.config import HarnessConfig
    from harness_diagnostics.settings import draws_plots, parse
    from harness_reports import plugin as reports

    rng = np.random.default_rng(0)
    x, y = rng.random((30, 784), dtype=np.float32), np.arange(30) % 10
    drawn = {}
    for kind, sweep in (("single", None), ("job", SweepJob(dir=tmp_path, job=0, overrides=("seed=0",)))):
        config = HarnessConfig(plugins={"reports": {"plots": option}})
        run = RunInfo(name=kind, config=config, config_yaml="", params={}, config_hash="", project_dir=tmp_path,
                      output_dir=tmp_path / kind, engine_name="backprop", sweep=sweep)
        reports.harness_run_start(run=run, data=Splits(x, y, x, y, x, y))
        result = RunResult(status="FINISHED", history=history(2), test_predictions=(y + 1) % 10)
        drawn[kind] = [p.name for p in reports.harness_run_artifacts(run=run, result=result)]
        assert draws_plots(parse({"plots": option}), run) == (single if kind == "single" else job)
    assert bool(drawn["single"]) == single and bool(drawn["job"]) == job
    if single:
        assert drawn["single"] == ["learning_curves.png", "confusion_matrix.png", "misclassified.png"]
