"""Notebooks reject bad parameters with one clear message, before writing anything."""

from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("params, message", [
    ({"reward_mode": "strict"}, "reward_mode='strict' is not valid; choose one of: 'paper', 'official'"),
    ({"seed": -3}, "seed=-3 is not valid; it must be >= 0"),
])
def test_00_environments_rejects_bad_parameters(tmp_path, monkeypatch, params, message):
    monkeypatch.setenv("SFTRL_REPRO_ROOT", str(tmp_path))  # anything written would land here
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(NOTEBOOKS / "00_environments.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters=params, progress_bar=False, kernel_name="python3")
    assert message in str(err.value)
    assert not (tmp_path / "results").exists() and not (tmp_path / "figures").exists()
