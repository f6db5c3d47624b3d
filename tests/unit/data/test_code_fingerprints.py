"""Per-component code fingerprints: each covers the import closure of the code it runs, nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_the_overall_fingerprint_is_all_of_models_by_default() -> None:
    taxi = small_config(Path("/unused")).declaration
    assert fingerprints.project_code_fingerprint(
        fingerprints.USER_CODE_DIR, (taxi.preprocessing_fn, taxi.run_fn)
    ) == fingerprints.user_code_fingerprint()


def test_a_models_dir_elsewhere_adds_its_declarations_to_the_overall_fingerprint(tmp_path: Path) -> None:
    taxi = small_config(Path("/unused")).declaration
    functions = (taxi.preprocessing_fn, taxi.run_fn)
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "project.yaml").write_text("name: proj\n")
    before = fingerprints.project_code_fingerprint(tmp_path, functions)
    (tmp_path / "proj" / "project.yaml").write_text("name: proj\nslices: [a]\n")
    assert fingerprints.project_code_fingerprint(tmp_path, functions) != before
    assert before != fingerprints.user_code_fingerprint(tmp_path)


def test_a_projects_own_tests_are_not_code_a_run_reads(tmp_path: Path) -> None:
    (tmp_path / "proj" / "tests").mkdir(parents=True)
    (tmp_path / "proj" / "project.yaml").write_text("name: proj\n")
    before = fingerprints.user_code_fingerprint(tmp_path)
    (tmp_path / "proj" / "tests" / "test_label.py").write_text("def test_x() -> None: ...\n")
    assert fingerprints.user_code_fingerprint(tmp_path) == before
    (tmp_path / "proj" / "label.py").write_text("FRACTION = 0.2\n")
    assert fingerprints.user_code_fingerprint(tmp_path) != before
