"""Run a Markdown page's code blocks, in order, the way a reader would.

One grammar for the README and every page of docs/ (docs/development.md says it for
writers):

* A block whose first line is ``# file: PATH`` is written to ``<work>/src/PATH``
  (a plugin package, its ``pyproject.toml``, a config file). Once a ``pyproject.toml``
  with ``[project.entry-points.harness]`` has been written, the package is "installed"
  for what follows: a ``.dist-info`` with those entry points goes next to it on
  ``sys.path`` / ``PYTHONPATH``, which is what ``pip install`` leaves.
* ``python`` blocks are executed in one namespace, in the page's order, in ``<work>``.
* ``bash`` blocks: every command (a line, with ``\\`` continuations) runs in ``<work>``
  with the project's ``.venv/bin`` first on ``PATH`` and must exit 0.
* ``console`` blocks: each ``$ command`` runs the same way, and the lines after it (until
  the next ``$``) must appear in its output; a command whose shown output contains
  ``error:`` must fail (exit non-zero) instead.
* The first line after a ``bash`` or ``console`` block may say how the tests run it:
  ``Quick (the tests run it): `COMMAND` `` (optionally followed by ``expect: `TEXT` ``)
  runs COMMAND, which must extend the block's only command with arguments that shrink it;
  ``Not run by the tests: REASON`` skips the block (for what needs a cluster or the
  package index; tests/test_docs.py keeps a list of those).
* ``make TARGET`` runs the checkout's Makefile in the page's folder (without remaking
  ``.venv``); ``mlflow ui`` and ``mlflow server`` are started on a free local port, must
  answer HTTP, and are stopped; ``python benchmarks/...`` runs the checkout's script;
  ``pip install [-e] examples/...`` does what an editable install leaves (the package's
  ``src/`` on ``PYTHONPATH``, its entry points), but in the page's folder rather than the
  shared ``.venv``, and ``pip uninstall -y NAME`` removes it from there.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[^\n]*\n?", re.MULTILINE | re.DOTALL)
QUICK = re.compile(r"^Quick \(the tests run it\): `([^`]+)`(?:\s+expect: `([^`]+)`)?\s*$")
NOT_RUN = re.compile(r"^Not run by the tests: (.+)$")
SHELL = ("bash", "console")


@dataclass
class Block:
    language: str
    text: str
    line: int
    after: str = ""  # the first non-blank line after the block

    @property
    def file(self) -> str | None:
        first = self.text.split("\n", 1)[0]
        return first.removeprefix("# file:").strip() if first.startswith("# file:") else None

    @property
    def quick(self) -> tuple[str, str | None] | None:
        match = QUICK.match(self.after.strip())
        return (match.group(1), match.group(2)) if match else None

    @property
    def not_run(self) -> str | None:
        match = NOT_RUN.match(self.after.strip())
        return match.group(1) if match else None


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for m in FENCE.finditer(text):
        rest = text[m.end():].lstrip("\n")
        after = rest.split("\n", 1)[0] if rest else ""
        found.append(Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, after))
    return found


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` of a shell block, continuations joined."""
    found: list[tuple[str, list[str]]] = []
    pending = ""
    for line in block.text.splitlines():
        if block.language == "console":
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif found and line.strip():
                found[-1][1].append(line.strip())
            continue
        if not line.strip() or (not pending and line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            found.append((" ".join(pending.split()), []))
            pending = ""
    return found


def install_entry_points(src: Path, pyproject: Path) -> Path:
    """What ``pip install`` leaves for importlib.metadata: METADATA and entry_points.txt."""
    project = tomllib.loads(pyproject.read_text())["project"]
    dist = src / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return dist


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_and_stop(command: str, work: Path, env: dict[str, str], where: str) -> None:
    """An ``mlflow ui`` / ``mlflow server`` command: started on a free local port, asked for
    its front page, stopped. One uvicorn worker (``MLFLOW_WORKERS``, as tests/servers.py
    explains) unless the environment or the command says otherwise."""
    port = free_port()
    argv = [*shlex.split(command), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(["bash", "-c", shlex.join(argv)], cwd=work, start_new_session=True,
                              env={"MLFLOW_WORKERS": "1", **env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert server.poll() is None, f"{where} exited {server.returncode}:\n{server.stdout.read()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    assert answer.status == 200
                    return
            except OSError:
                time.sleep(0.25)
        raise AssertionError(f"{where}: no answer on port {port} within 120 s")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


def install_editable(src: Path, project: Path) -> None:
    """What ``pip install -e PROJECT`` leaves, without a build: its ``src/`` packages on
    ``sys.path`` / ``PYTHONPATH`` (copied into ``src``) and its entry points."""
    names = []
    for package in (project / "src").iterdir():
        if package.is_dir() and not package.name.endswith(".egg-info") and package.name != "__pycache__":
            shutil.copytree(package, src / package.name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
            names.append(package.name)
    dist = install_entry_points(src, project / "pyproject.toml")
    (dist / "top_level.txt").write_text("\n".join(names) + "\n")


def uninstall(src: Path, name: str) -> None:
    """What ``pip uninstall NAME`` does, for a distribution installed into ``src``."""
    prefix = name.replace("-", "_").lower() + "-"
    for dist in [d for d in src.glob("*.dist-info") if d.name.lower().startswith(prefix)]:
        top_level = dist / "top_level.txt"
        for package in top_level.read_text().split() if top_level.is_file() else []:
            shutil.rmtree(src / package, ignore_errors=True)
        shutil.rmtree(dist, ignore_errors=True)


def prepare(command: str, work: Path) -> str | None:
    """The command as the test runs it (None: done here, nothing to run)."""
    argv = shlex.split(command)
    if argv[:1] == ["make"]:  # the checkout's Makefile and environment, run in the page's folder
        venv = BIN.parent
        return shlex.join(["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), f"VENV={venv}",
                           "-o", str(venv / ".installed"), *argv[1:]])
    if argv[:1] == ["python"] and len(argv) > 1 and argv[1].startswith(("benchmarks/", "scripts/")):
        return shlex.join([sys.executable, str(ROOT / argv[1]), *argv[2:]])
    if argv[:2] == ["pip", "install"] and argv[-1].startswith("examples/"):
        # into the page's own folder (on PYTHONPATH), never into the shared environment
        install_editable(work / "src", ROOT / argv[-1])
        from harness.plugins import reset_plugin_manager

        reset_plugin_manager()
        return None
    if argv[:3] == ["pip", "uninstall", "-y"]:
        for name in argv[3:]:
            uninstall(work / "src", name)
        return None
    return command


def run_shell(block: Block, work: Path, env: dict[str, str], page: Path) -> None:
    shown = commands(block)
    quick = block.quick
    if quick is not None:
        assert len(shown) == 1, f"{page.name}:{block.line}: a Quick line goes under a block of one command"
        original, quicker = shlex.split(shown[0][0]), shlex.split(quick[0])
        assert quicker[: len(original)] == original, f"{page.name}:{block.line}: {quick[0]!r} does not extend {shown[0][0]!r}"
        shown = [(quick[0], [quick[1]] if quick[1] else [])]
    for command, expected in shown:
        where = f"{page.name}:{block.line}: `{command}`"
        if shlex.split(command)[:2] in (["mlflow", "ui"], ["mlflow", "server"]):
            serve_and_stop(command, work, env, where)
            continue
        actual = prepare(command, work)
        if actual is None:
            continue
        done = subprocess.run(["bash", "-c", actual], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
        output = done.stdout + done.stderr
        if any("error:" in line for line in expected):
            assert done.returncode != 0, f"{where} should fail, as the page shows, but exited 0:\n{output[-3000:]}"
        else:
            assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        for want in expected:
            assert want in output, f"{where}: expected output line {want!r} not in:\n{output[-3000:]}"


def page_env(work: Path, src: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
           "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    for name in ("HARNESS_LOAD_PLUGINS", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def run_page(page: Path, work: Path, extra_env: dict[str, str] | None = None) -> None:
    """Every block of ``page``, in order (see the module docstring)."""
    from harness.plugins import reset_plugin_manager

    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    env = page_env(work, src, extra_env)
    namespace: dict[str, object] = {"__name__": f"doc:{page.name}"}
    sys.path.insert(0, str(src))
    before, cwd, environ = set(sys.modules), Path.cwd(), dict(os.environ)
    try:
        for block in blocks(page):
            if block.file:
                target = src / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text)
                if target.name == "pyproject.toml":
                    install_entry_points(src, target)
                    reset_plugin_manager()
            elif block.language in SHELL and block.not_run is None:
                run_shell(block, work, env, page)
            elif block.language == "python":
                reset_plugin_manager()
                code = compile(block.text, f"{page.name}:{block.line}", "exec")
                os.chdir(work)
                try:
                    exec(code, namespace)  # noqa: S102 (the page's own examples)
                finally:
                    os.chdir(cwd)
    finally:
        _restore_environment(environ)
        sys.path.remove(str(src))
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            if module is not None and str(getattr(module, "__file__", "") or "").startswith(str(src)):
                del sys.modules[name]
        reset_plugin_manager()


def _restore_environment(environ: dict[str, str]) -> None:
    """Undo what a page's Python blocks changed for the process: ``mlflow.set_tracking_uri``
    sets MLflow's global URI and ``$MLFLOW_TRACKING_URI``, which later tests in the same
    worker would otherwise record into."""
    import mlflow

    mlflow.set_tracking_uri(environ.get("MLFLOW_TRACKING_URI"))  # type: ignore[arg-type] (None unsets it)
    os.environ.clear()
    os.environ.update(environ)
