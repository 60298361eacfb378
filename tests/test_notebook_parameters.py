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


def test_every_training_notebook_honours_ci_smoke_mode():
    """CI (``make test``) sets SFTRL_SMOKE=1 and re-executes every rendered notebook: a notebook with
    a ``smoke`` parameter that ignores the variable would train at full size in CI (a missed one once
    pretrained the full tiny base there)."""
    sources = sorted((NOTEBOOKS / "src").glob("[0-9]*.py"))
    assert sources
    for source in sources:
        text = source.read_text()
        if "\nsmoke = " in text:
            assert 'os.environ.get("SFTRL_SMOKE") == "1"' in text, f"{source.name} ignores SFTRL_SMOKE"
