"""Draw the pictures of the README and docs/ from small, deterministic real runs.

``make docs-images`` runs this. In a scratch folder it runs, through the command line as a
user would (seed 0, one BLAS thread, so the numbers repeat):

1. one short MNIST run: its learning curves, confusion matrix and misclassified digits;
2. a three-rate learning-rate sweep recorded in MLflow: its ``comparison.png`` (drawn by
   ``harness compare`` from the store), and a
   screenshot of the MLflow UI with the sweep's parent run and its children nested under
   it (Debian's ``chromium`` through Playwright; skipped with a message when either is
   missing);
3. a shrunk vanishing-gradient sweep (sigmoid, tanh, ReLU × naive and He initialisation ×
   no remedy and batch norm, two epochs on 5 000 images): its ``diagnostics_summary.png``.

Each picture is copied to ``docs/images/`` as a palette PNG (256 colours, optimised).
``--only NAME`` (repeatable) draws only those pictures' runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
COMMON = ["seed=0", "training.threads=1", "progress=never"]
RUN = ["data.train_size=10000", "training.epochs=4", "tracking=none", "hydra.run.dir=run", *COMMON]
SWEEP = ["-m", "name=lr_sweep_demo", "optimizer.lr=0.01,0.05,0.2", "data.train_size=5000", "training.epochs=4",
         "diagnostics.enabled=false", "tracking.log_model=false", "hydra.sweep.dir=sweep", *COMMON]
VANISHING = ["-m", "+experiment=vanishing", "deep.activation=sigmoid,tanh,relu", "deep.init=normal,he",
             "remedy=none,batch_norm", "data.train_size=5000", "training.epochs=2", "tracking=none",
             "hydra.sweep.dir=vanishing", *COMMON]


def env() -> dict[str, str]:
    out = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "HARNESS_LOAD_PLUGINS"):
        out.pop(name, None)
    return out


def train(work: Path, args: list[str]) -> None:
    print("harness-train", " ".join(args), flush=True)
    subprocess.run([str(BIN / "harness-train"), *args], cwd=work, env=env(), check=True)


def found(folder: Path, name: str) -> Path:
    matches = sorted(folder.rglob(name))
    if not matches:
        raise SystemExit(f"docs_images: no {name} under {folder}")
    return matches[0]


def save(source: Path, name: str) -> None:
    """``source`` as a 256-colour palette PNG in docs/images/NAME."""
    from PIL import Image

    target = IMAGES / name
    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} kB", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlflow_ui_screenshot(work: Path, out: Path) -> bool:
    """The experiment's runs table with the sweep's parent unfolded, as the UI shows it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("docs_images: playwright is not installed (pip install playwright): no mlflow_ui.png", flush=True)
        return False
    if not Path(CHROMIUM).exists():
        print(f"docs_images: {CHROMIUM} is missing (apt-get install chromium): no mlflow_ui.png", flush=True)
        return False
    import mlflow

    store = work / "mlflow.db"
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("lr_sweep_demo")
    (parent,) = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("harness.sweep") == "parent"]
    port = free_port()
    server = subprocess.Popen([str(BIN / "mlflow"), "ui", "--backend-store-uri", f"sqlite:///{store}", "--host",
                               "127.0.0.1", "--port", str(port), "--workers", "1"], cwd=work, env=env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("docs_images: mlflow ui did not answer") from None
                time.sleep(1)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=flags, headless=True, viewport={"width": 1400, "height": 640})
            page = context.new_page()
            page.set_default_timeout(240_000)
            page.goto(f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}/runs",
                      wait_until="domcontentloaded")
            page.get_by_text(parent.info.run_name, exact=False).first.wait_for()
            close = page.locator("button[data-component-id='mlflow.assistant.chat_panel.close']")
            if close.count():
                close.first.click()
            row = page.get_by_role("row").filter(has=page.get_by_role("link", name=parent.info.run_name, exact=True))
            row.locator("button[data-component-id*='runnamecellrenderer']").first.click()
            page.get_by_role("link", name="optimizer.lr=0.2", exact=True).wait_for()
            page.wait_for_timeout(2000)
            page.screenshot(path=str(out))
            context.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=["run", "sweep", "vanishing"], help="draw only these")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    only = set(args.only or ["run", "sweep", "vanishing"])
    IMAGES.mkdir(parents=True, exist_ok=True)
    work = Path(args.keep or tempfile.mkdtemp(prefix="docs-images-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        if "run" in only:
            train(work, RUN)
            for name in ("learning_curves.png", "confusion_matrix.png", "misclassified.png"):
                save(found(work / "run", name), name)
        if "sweep" in only:
            train(work, SWEEP)
            # drawn again from the store, where the children are named by what the sweep varies
            subprocess.run([str(BIN / "harness"), "compare", "--out", "compare"], cwd=work, env=env(), check=True)
            save(work / "compare" / "comparison.png", "comparison.png")
            shot = work / "mlflow_ui.png"
            if mlflow_ui_screenshot(work, shot):
                save(shot, "mlflow_ui.png")
        if "vanishing" in only:
            train(work, VANISHING)
            save(found(work / "vanishing", "diagnostics_summary.png"), "diagnostics_summary.png")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
