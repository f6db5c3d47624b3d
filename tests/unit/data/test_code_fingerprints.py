"""Per-component code fingerprints: each covers the import closure of the code it runs, nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.data import fingerprints
from tests.support.configs import small_config

PREPROCESSING = "pkg.proj.preprocessing.preprocessing_fn"
RUN_FN = "pkg.common.model.run_fn"


@pytest.fixture()
def code(tmp_path: Path) -> Path:
    """A user-code package: a project preprocessing module importing shared features (absolute),
    a relative sibling and a submodule by `from pkg.common import x`; a model that imports none."""
    files = {
        "pkg/__init__.py": "",
        "pkg/common/__init__.py": "",
        "pkg/common/features.py": "WIDTH = 3\n",
        "pkg/common/model.py": "import json\n\ndef run_fn(args):\n    return json.dumps(args)\n",
        "pkg/common/unused.py": "X = 1\n",
        "pkg/proj/__init__.py": "",
        "pkg/proj/label.py": "KEY = 'y'\n",
        "pkg/proj/preprocessing.py": (
            "from __future__ import annotations\nimport os\n"
            "from pkg.common import features\nfrom .label import KEY\n\n"
            "def preprocessing_fn(inputs):\n    return {KEY: inputs, 'w': features.WIDTH}\n"),
        "pkg/proj/project.yaml": "name: proj\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def closure(function: str, root: Path) -> list[str]:
    """The closure's files relative to `root`."""
    _, files = fingerprints.code_closure(function, [str(root)])
    return [f.relative_to(root.resolve()).as_posix() for f in files]


def test_the_closure_follows_imports_within_the_package_only(code: Path) -> None:
    assert closure(PREPROCESSING, code) == [
        "pkg/__init__.py", "pkg/common/__init__.py", "pkg/common/features.py",
        "pkg/proj/__init__.py", "pkg/proj/label.py", "pkg/proj/preprocessing.py"]
    assert closure(RUN_FN, code) == ["pkg/__init__.py", "pkg/common/__init__.py", "pkg/common/model.py"]


@pytest.mark.parametrize(("edited", "preprocessing_changes", "model_changes"), [
    ("pkg/common/features.py", True, False),
    ("pkg/proj/label.py", True, False),
    ("pkg/proj/preprocessing.py", True, False),
    ("pkg/common/model.py", False, True),
    ("pkg/common/__init__.py", True, True),
    ("pkg/common/unused.py", False, False),
    ("pkg/proj/project.yaml", False, False),
])
def test_an_edit_changes_the_key_of_the_code_that_imports_it(
    code: Path, edited: str, preprocessing_changes: bool, model_changes: bool
) -> None:
    path = [str(code)]
    before = (fingerprints.code_fingerprint(PREPROCESSING, path),
              fingerprints.code_fingerprint(RUN_FN, path))
    with (code / edited).open("a") as handle:
        handle.write("# edited\n")
    after = (fingerprints.code_fingerprint(PREPROCESSING, path),
             fingerprints.code_fingerprint(RUN_FN, path))
    assert (before[0] != after[0], before[1] != after[1]) == (preprocessing_changes, model_changes)


def test_the_dotted_path_is_part_of_the_key(code: Path) -> None:
    (code / "pkg/common/model.py").write_text("def run_fn(a):\n    pass\n\ndef other_fn(a):\n    pass\n")
    path = [str(code)]
    assert fingerprints.code_fingerprint(RUN_FN, path) != fingerprints.code_fingerprint(
        "pkg.common.model.other_fn", path)


def test_the_first_package_on_the_search_path_is_the_one_hashed(code: Path, tmp_path_factory) -> None:
    shadow = tmp_path_factory.mktemp("shadow")
    (shadow / "pkg" / "common").mkdir(parents=True)
    (shadow / "pkg" / "common" / "model.py").write_text("def run_fn(a):\n    pass\n")
    assert closure(RUN_FN, shadow) == ["pkg/common/model.py"]
    package, _ = fingerprints.code_closure(RUN_FN, [str(shadow), str(code)])
    assert package == (shadow / "pkg").resolve()


def test_code_outside_any_search_path_entry_has_an_empty_closure(tmp_path: Path) -> None:
    assert fingerprints.code_closure("nowhere.module.fn", [str(tmp_path)])[1] == []


def test_the_bundled_projects_keys_cover_their_own_modules() -> None:
    taxi = small_config(Path("/unused")).declaration
    _, files = fingerprints.code_closure(taxi.preprocessing_fn)
    names = {f.name for f in files}
    assert {"preprocessing.py", "label.py", "features.py"} <= names and "model.py" not in names
    _, files = fingerprints.code_closure(taxi.run_fn)
    assert {"model.py", "preprocessing.py", "features.py"} <= {f.name for f in files}
    assert "label.py" not in {f.name for f in files}


def _two_projects(root: Path) -> tuple[Path, tuple[str, str]]:
    """A models dir with projects 'alpha' and 'beta' sharing a `shared` package of user code."""
    models = root / "models"
    for name in ("alpha", "beta"):
        (models / name).mkdir(parents=True)
        (models / name / "project.yaml").write_text(f"name: {name}\n")
    (models / "shared").mkdir()
    (models / "shared" / "__init__.py").write_text("")
    (models / "shared" / "code.py").write_text("from pipeline import vocabulary\n\ndef run_fn(): ...\n")
    return models, ("shared.code.run_fn", "shared.code.run_fn")


def test_a_project_fingerprint_covers_its_own_code_and_none_of_another_project(tmp_path: Path) -> None:
    models, functions = _two_projects(tmp_path)
    search = [str(models), str(PROJECT_ROOT)]

    def alpha() -> str:
        return fingerprints.project_code_fingerprint(models, "alpha", functions, search)

    files = fingerprints.project_files(models, "alpha", functions, search)
    assert models / "alpha" / "project.yaml" in files and models / "shared" / "code.py" in files
    assert PROJECT_ROOT / "pipeline" / "vocabulary.py" in files  # platform code it imports
    assert not [f for f in files if "beta" in f.parts]
    before = alpha()
    (models / "beta" / "project.yaml").write_text("name: beta\ntask: regression\n")  # edited
    (models / "gamma").mkdir()
    (models / "gamma" / "project.yaml").write_text("name: gamma\n")  # added
    (models / "gamma" / "label.py").write_text("X = 1\n")
    assert alpha() == before
    for path in sorted((models / "beta").iterdir()):  # deleted
        path.unlink()
    (models / "beta").rmdir()
    assert alpha() == before
    (models / "alpha" / "label.py").write_text("X = 2\n")  # its own module
    assert alpha() != before
    changed = alpha()
    (models / "shared" / "code.py").write_text("def run_fn(): return 1\n")  # the shared code
    assert alpha() != changed


def test_a_projects_own_tests_are_not_code_a_run_reads(tmp_path: Path) -> None:
    (tmp_path / "proj" / "tests").mkdir(parents=True)
    (tmp_path / "proj" / "project.yaml").write_text("name: proj\n")
    before = fingerprints.user_code_fingerprint(tmp_path)
    (tmp_path / "proj" / "tests" / "test_label.py").write_text("def test_x() -> None: ...\n")
    assert fingerprints.user_code_fingerprint(tmp_path) == before
    (tmp_path / "proj" / "label.py").write_text("FRACTION = 0.2\n")
    assert fingerprints.user_code_fingerprint(tmp_path) != before
