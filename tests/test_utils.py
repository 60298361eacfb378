"""Atomic writes, parameter validation and the project paths."""

import json
import os

import pandas as pd
import pytest

from sftrl_repro.paths import repo_root, results_dir
from sftrl_repro.utils import check_choice, check_int, write_csv_atomic, write_json_atomic, write_text_atomic


def test_atomic_writes_leave_no_temp_files(tmp_path):
    write_text_atomic(tmp_path / "a" / "b.txt", "hello")
    write_json_atomic(tmp_path / "c.json", {"b": 1, "a": [1, 2]})
    write_csv_atomic(tmp_path / "d.csv", pd.DataFrame({"x": [1, 2]}))
    assert (tmp_path / "a" / "b.txt").read_text() == "hello"
    assert json.loads((tmp_path / "c.json").read_text()) == {"a": [1, 2], "b": 1}
    assert (tmp_path / "d.csv").read_text() == "x\n1\n2\n"
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_failed_write_keeps_the_old_content(tmp_path):
    target = tmp_path / "t.json"
    write_json_atomic(target, {"ok": True})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": True}
    assert sorted(os.listdir(tmp_path)) == ["t.json"]


def test_check_choice_and_int_messages():
    assert check_choice("variant", "vl", ("l", "vl")) == "vl"
    with pytest.raises(ValueError, match=r"^variant='x' is not valid; choose one of: 'l', 'vl'$"):
        check_choice("variant", "x", ("l", "vl"))
    assert check_int("seed", 3, low=0) == 3
    for bad in (True, 1.5, "3"):
        with pytest.raises(ValueError, match="integer"):
            check_int("seed", bad)
    with pytest.raises(ValueError, match=">= 0"):
        check_int("seed", -1, low=0)


def test_paths_find_the_project_root(monkeypatch, tmp_path):
    root = repo_root()
    assert (root / "pyproject.toml").is_file() and results_dir() == root / "results"
    monkeypatch.chdir(root / "tests")
    assert repo_root() == root
    monkeypatch.setenv("SFTRL_REPRO_ROOT", str(tmp_path))
    assert results_dir() == tmp_path / "results"


def test_games_envs_prompts_and_rewards_never_import_torch():
    import subprocess
    import sys

    code = ("import sys, gymnasium as gym, sftrl_repro, sftrl_repro.prompts, sftrl_repro.rewards, sftrl_repro.games.gp_stats, sftrl_repro.games.virl.real_data; "
            "from sftrl_repro.envs import GENERAL_POINTS_ID, VIRL_ID; "
            "e = gym.make(GENERAL_POINTS_ID, modality='vision', image_size=64); e.reset(seed=0); e.step('x'); "
            "v = gym.make(VIRL_ID, n_routes=5); v.reset(seed=0); v.step('x'); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
