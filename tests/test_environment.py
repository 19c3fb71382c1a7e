"""The conda environment file and the pip requirements must list the same pinned packages."""

import re

import yaml

from helpers.core.config import PROJECT_ROOT


def pip_requirements() -> list[str]:
    lines = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    return [l.strip() for l in lines if l.strip() and not l.lstrip().startswith("#")]


def test_requirements_are_pinned():
    for requirement in pip_requirements():
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.\-]*", requirement), requirement


def test_environment_yml_matches_requirements():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1
    assert sorted(pip_sections[0]) == sorted(pip_requirements())
    assert any(str(d).startswith("python=") for d in env["dependencies"])


def test_makefile_targets_are_listed_in_help():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for target in ("help", "env", "report", "test", "lab", "check-data", "clean"):
        assert re.search(rf"^{target}:.*## ", makefile, re.M), f"{target} missing or without ## help"


def test_ci_runs_the_readme_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text()
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make report" in readme
    assert re.search(r"^make test$", ci, re.M)
