"""scripts/choose_ensemble.py writes the chosen ensemble where the profile and notebook 09 keep it."""

import importlib.util
import shutil

import pytest
import yaml

from helpers.core.config import PROJECT_ROOT


def script():
    spec = importlib.util.spec_from_file_location("choose_ensemble", PROJECT_ROOT / "scripts" / "choose_ensemble.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_members_sets_the_profile_and_the_notebook_alike(tmp_path, monkeypatch):
    module = script()
    profile, notebook = tmp_path / "full.yaml", tmp_path / "09.ipynb"
    shutil.copy(module.PROFILE, profile)
    shutil.copy(module.NOTEBOOK, notebook)
    monkeypatch.setattr(module, "PROFILE", profile)
    monkeypatch.setattr(module, "NOTEBOOK", notebook)
    module.write_members(["cnn", "ablation_none"])
    assert yaml.safe_load(profile.read_text())["ensemble_members"] == ["cnn", "ablation_none"]
    assert "ensemble_members: list = ['cnn', 'ablation_none']  # the subset" in notebook.read_text()
    profile.write_text("seed: 42\n")
    with pytest.raises(ValueError, match="expected one ensemble_members line, found 0"):
        module.write_members(["cnn"])
