"""``harness check``: a table with the worst error per component, JSON, --plugin, exit codes."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_plugins import make_distribution
from harness.cli import check_cmd

HARNESS = str(Path(sys.executable).with_name("harness"))
BROKEN_FIXTURE = Path(__file__).parent / "fixtures" / "broken_plugin"


def harness(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HARNESS_LOAD_PLUGINS", None)
    return subprocess.run([HARNESS, *args], capture_output=True, text=True, env=full_env, timeout=300)


def run_in_process(capsys, *argv) -> tuple[int, str]:
    """The command's own parser and handler, without the rest of the CLI."""
    parser = argparse.ArgumentParser(prog="harness")
    check_cmd.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["check", *argv])
    code = args.handler(args)
    return code, capsys.readouterr().out


def test_builtins_pass_with_one_row_per_component_and_check(capsys, monkeypatch):
    monkeypatch.delenv("HARNESS_LOAD_PLUGINS", raising=False)
    code, out = run_in_process(capsys)
    lines = out.splitlines()
    assert code == 0, out
    assert lines[0].split() == ["component", "kind", "plugin", "check", "worst", "error", "at", "tolerance", "result"]
    dense = next(line.split() for line in lines if line.startswith("backprop:dense ") and "central_difference" in line)
    assert dense[:4] == ["backprop:dense", "layer", "backprop", "central_difference"]
    assert float(dense[4]) < 1e-7 and dense[5] in {"W", "b", "input"} and dense[-1] == "ok"
    assert any(line.startswith("sgd ") and "optimizer_quadratic" in line for line in lines)
    assert " passed, 0 failed, " in lines[-1] and lines[-1].endswith("(all passed)")


def test_json_report_has_the_worst_error_of_every_case(capsys, monkeypatch):
    monkeypatch.delenv("HARNESS_LOAD_PLUGINS", raising=False)
    code, out = run_in_process(capsys, "--json")
    report = json.loads(out)
    assert code == 0 and report["passed"] is True and report["failures"] == []
    central = [c for c in report["cases"] if c["check"] == "central_difference"]
    assert {c["component"] for c in central} >= {"backprop:dense", "backprop:relu", "backprop:softmax_cross_entropy"}
    for case in central:
        assert case["worst_error"] < 1e-7, case
        assert case["worst_error"] == max(r["error"] for r in case["results"])
    assert report["summary"]["failed"] == 0 and report["summary"]["cases"] == len(report["cases"])


def test_the_broken_fixture_fails_with_component_parameter_and_error(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(BROKEN_FIXTURE))
    monkeypatch.delenv("HARNESS_LOAD_PLUGINS", raising=False)
    try:
        code, out = run_in_process(capsys, "--plugin", "broken")
    finally:
        sys.modules.pop("harness_broken_fixture", None)
    assert code == 1
    assert "  backprop:broken_dense [central_difference] b: relative error " in out
    assert "(tolerance 1e-07) FAILED" in out
    assert out.splitlines()[-1] == "3 checks on 1 component of plugin 'broken': 1 passed, 2 failed, 0 skipped (FAILED)"


def test_render_lists_skips_with_their_reason(capsys, monkeypatch):
    monkeypatch.delenv("HARNESS_LOAD_PLUGINS", raising=False)
    _, out = run_in_process(capsys, "--plugin", "backprop", "--checker", "complex_step")
    assert "skipped:\n  backprop:mse [complex_step] input: skipped (" in out
    assert "central_difference" not in out


def test_no_checker_means_failure_not_a_vacuous_pass(capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_LOAD_PLUGINS", "backprop,optim")
    code, out = run_in_process(capsys)
    assert code == 1
    assert out.strip() == "no checks ran: no gradient checker is registered (is HARNESS_LOAD_PLUGINS leaving out gradcheck?)"


# ------------------------------------------------------ plugins that fail to load


@pytest.fixture
def unimportable(tmp_path, monkeypatch):
    """A plugin distribution on sys.path whose module cannot be imported."""
    path = make_distribution(tmp_path / "dist", "brokenplug", {"rmsprop": "import no_such_module_anywhere\n"})
    monkeypatch.syspath_prepend(str(path))
    importlib.invalidate_caches()
    monkeypatch.delenv("HARNESS_LOAD_PLUGINS", raising=False)
    return path


def test_a_plugin_that_fails_to_load_fails_a_plain_check_and_is_named(capsys, unimportable):
    code, out = run_in_process(capsys, "--checker", "schedule_contract")
    lines = out.splitlines()
    assert code == 1
    assert ("FAILED TO LOAD (nothing of theirs was checked):\n  rmsprop (rmsprop = brokenplug_rmsprop): "
            "ModuleNotFoundError: No module named 'no_such_module_anywhere'") in out
    assert lines[-1].endswith(": 4 passed, 0 failed, 0 skipped; 1 plugin failed to load (FAILED)")  # constant, step, cosine, lr_range


def test_the_json_report_names_the_plugin_that_failed_to_load(capsys, unimportable):
    code, out = run_in_process(capsys, "--checker", "schedule_contract", "--json")
    report = json.loads(out)
    assert code == 1 and report["passed"] is False and report["summary"]["failed_plugins"] == 1
    assert report["failed_plugins"] == [{
        "name": "rmsprop", "entry_point": "rmsprop = brokenplug_rmsprop",
        "error": "ModuleNotFoundError: No module named 'no_such_module_anywhere'",
    }]


def test_checking_another_plugin_is_not_failed_by_the_broken_one(capsys, unimportable):
    code, out = run_in_process(capsys, "--plugin", "optim", "--checker", "schedule_contract")
    assert code == 0 and "FAILED TO LOAD" not in out and out.rstrip().endswith("(all passed)")


# ------------------------------------------------------------ through the CLI


def test_harness_check_exits_0_on_the_builtins():
    result = harness("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "backprop:dense" in result.stdout and result.stdout.rstrip().endswith("(all passed)")


def test_harness_check_exits_1_when_a_plugin_fails_to_import(tmp_path):
    path = make_distribution(tmp_path / "dist", "brokenplug", {"rmsprop": "import no_such_module_anywhere\n"})
    result = harness("check", "--checker", "schedule_contract", env={"PYTHONPATH": str(path)})
    assert result.returncode == 1
    assert "  rmsprop (rmsprop = brokenplug_rmsprop): ModuleNotFoundError" in result.stdout
    assert result.stdout.rstrip().endswith("1 plugin failed to load (FAILED)")


def test_harness_check_exits_1_on_the_broken_fixture():
    result = harness("check", "--plugin", "broken", env={"PYTHONPATH": str(BROKEN_FIXTURE)})
    assert result.returncode == 1
    assert "backprop:broken_dense [central_difference] b: relative error" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plugin", "nosuch"], "harness: error: unknown plugin 'nosuch'; loaded: "),
        (["--checker", "nope"], "harness: error: unknown gradient checker 'nope'; known: "),
    ],
)
def test_bad_names_are_one_line_errors_with_exit_2(args, message):
    result = harness("check", *args)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1
