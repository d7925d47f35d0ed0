"""The MLflow UI, looked at in a real browser: what a user sees after a sweep.

Starts ``mlflow ui`` on 127.0.0.1 over a store holding a two-child sweep and drives
Debian's headless Chromium with Playwright (``executable_path=/usr/bin/chromium``; no
browser download). Checks that the experiment page lists the sweep's parent with its
children nested under it, that the parent shows the sweep's summary metrics, and that
the children's models are logged models of the experiment. Screenshots are saved in
``test-results/browser/`` (``HARNESS_TEST_OUTPUT`` elsewhere) to be looked at.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from mlflow_services import BIN, env_for, free_port, start, stop, train, wait_until_up

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
# As the machine's notes say: no background networking (a closed network refuses it), no GPU, a fresh profile.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 240_000  # the UI's bundle is large and the machine may be busy: generous, bounded waits


@pytest.fixture(scope="module")
def output() -> Path:
    folder = Path(os.environ.get("HARNESS_TEST_OUTPUT") or ROOT / "test-results") / "browser"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def sweep_ui(tmp_path_factory):
    """A two-child sweep in a fresh store, and ``mlflow ui`` serving it."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium (make test-integration's CI does)"
    project = tmp_path_factory.mktemp("ui") / "project"
    train(project, "name=ui", "optimizer.lr=0.05,0.1", multirun=True)
    store = project / "mlflow.db"
    client = MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("ui")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("harness.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    models = client.search_logged_models([experiment.experiment_id])
    port = free_port()
    log = project.parent / "ui.log"
    server = start([str(BIN / "mlflow"), "ui", "--backend-store-uri", f"sqlite:///{store}", "--host", "127.0.0.1",
                    "--port", str(port), "--workers", "1"], log, env_for(store), cwd=project)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", server, log, timeout=300)
        yield {"url": f"http://127.0.0.1:{port}", "experiment": experiment.experiment_id, "parent": parent,
               "children": children, "models": models}
    finally:
        stop(server)


@pytest.fixture(scope="module")
def page(sweep_ui, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            tab = context.new_page()
            tab.set_default_timeout(WAIT_MS)
            yield tab
        finally:
            context.close()


def _open(page, url: str, text: str):
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(text, exact=False).first.wait_for()
    close = page.locator("button[data-component-id='mlflow.assistant.chat_panel.close']")
    if close.count():  # MLflow's assistant side panel: not what is looked at here
        close.first.click()
    page.wait_for_timeout(1500)  # let the rest of the view settle before a screenshot


def test_parent_lists_its_children_nested(page, sweep_ui, output):
    parent, children = sweep_ui["parent"], sweep_ui["children"]
    assert len(children) == 2
    _open(page, f"{sweep_ui['url']}/#/experiments/{sweep_ui['experiment']}/runs", parent.info.run_name)
    for child in children:  # folded: only the parent is listed
        assert page.get_by_role("link", name=child.info.run_name, exact=True).count() == 0
    page.screenshot(path=str(output / "1_runs_collapsed.png"))
    parent_row = page.get_by_role("row").filter(has=page.get_by_role("link", name=parent.info.run_name, exact=True))
    parent_row.locator("button[data-component-id*='runnamecellrenderer']").first.click()
    links = []
    for child in children:
        link = page.get_by_role("link", name=child.info.run_name, exact=True)
        link.wait_for()
        links.append(link)
    page.screenshot(path=str(output / "2_runs_expanded.png"))
    parent_box = page.get_by_role("link", name=parent.info.run_name, exact=True).bounding_box()
    for link in links:  # below the parent and indented under it
        box = link.bounding_box()
        assert box["y"] > parent_box["y"] and box["x"] > parent_box["x"]


def test_parent_shows_the_sweep_summary(page, sweep_ui, output):
    parent = sweep_ui["parent"]
    _open(page, f"{sweep_ui['url']}/#/experiments/{sweep_ui['experiment']}/runs/{parent.info.run_id}", "children_finished")
    page.screenshot(path=str(output / "3_parent_run.png"), full_page=True)
    text = page.inner_text("body")
    metrics = parent.data.metrics
    for name in ("children_finished", "children_failed", "best_val_accuracy", "test_accuracy"):
        assert name in text
    assert re.search(rf"children_finished\s+{metrics['children_finished']:g}\b", text)
    assert f"{metrics['test_accuracy']:.4g}"[:4] in text  # the best child's test accuracy
    assert "optimizer.lr" in text and "0.05,0.1" in text  # the swept key, as a param
    assert parent.data.tags["harness.best_child"] in text  # the description names the best child


def test_children_models_are_logged_models(page, sweep_ui, output):
    models = sweep_ui["models"]
    assert len(models) == 2
    child = next(c for c in sweep_ui["children"] if c.info.run_id == models[0].source_run_id)
    _open(page, f"{sweep_ui['url']}/#/experiments/{sweep_ui['experiment']}/runs/{child.info.run_id}", models[0].model_id)
    page.screenshot(path=str(output / "4_child_run.png"), full_page=True)
    text = page.inner_text("body")
    assert "blobs-train" in text  # dataset inputs
    _open(page, f"{sweep_ui['url']}/#/experiments/{sweep_ui['experiment']}/models", "Source run")
    for child in sweep_ui["children"]:  # each logged model, listed with the run it came from
        page.get_by_role("link", name=child.info.run_name, exact=True).first.wait_for()
    page.screenshot(path=str(output / "5_logged_models.png"))
    text = page.inner_text("body")
    assert text.count("Ready") == 2
