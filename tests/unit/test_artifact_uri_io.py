"""No local-only file call (pathlib, open, shutil, os file functions) is applied to an artifact
URI anywhere in pipeline/ or models/: `Path("gs://b/x")` is the local path `gs:/b/x`. Artifact I/O
goes through tfx.dsl.io.fileio or tf.io.gfile, joined with os.path.join.

The check is static (the AST of every module): an expression is a URI when it names `uri` or
`*_uri` (an artifact's `.uri`, a `model_uri` parameter), calls TFX's `GetModelPath`, or is a
variable of the same function assigned from such an expression, however indirectly.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import pytest

from pipeline.config import PROJECT_ROOT

# The platform, and the model code TFX runs on artifact URIs (Transform, Trainer).
SCANNED = (PROJECT_ROOT / "pipeline", PROJECT_ROOT / "models")
URI_NAME = re.compile(r"(^|_)uri$")
URI_CALLS = {"GetModelPath"}
# Calls that only understand this machine's disk.
LOCAL_CALLS = {"Path", "PurePath", "PosixPath", "open", "io.open", "tempfile.TemporaryDirectory"}
LOCAL_MODULES = {"shutil", "pathlib"}
LOCAL_OS = {"listdir", "makedirs", "mkdir", "remove", "rename", "replace", "rmdir", "scandir",
            "stat", "unlink", "walk"}
# os.path's string functions are what fileio users join paths with; the rest touch the disk.
PURE_OS_PATH = {"join", "basename", "dirname", "split", "splitext", "normpath", "relpath"}

# Places that apply a local call to a URI-named value on purpose, each with the reason.
# Key: (file relative to the project, enclosing function, call).
ALLOWED: dict[tuple[str, str, str], str] = {
    # Reached only when is_uri(model_uri) is false: the model is then a folder of this machine,
    # which the serving layout (local by design: atomic rename into TF Serving's folder) reads.
    ("pipeline/graph/serving_pusher.py", "local_model", "Path"):
        "local branch of a URI check",
    # The up-to-date check must not import TensorFlow (it exists to skip that cost), so it checks
    # that local outputs still exist and asks fileio only for URIs (`if not is_uri(uri)` first).
    ("pipeline/run/up_to_date.py", "output_exists", "Path"): "guarded by is_uri, TF-free",
    # A sqlite:/// MLflow tracking URI names a database file on this machine (not an artifact):
    # its artifacts go beside it.
    ("pipeline/mirror/settings.py", "artifact_root", "Path"): "the file of a sqlite:/// store",
    # The TF-free readers' one way to artifact files: each function takes the local branch only
    # when is_uri() is false and hands URIs to tf.io.gfile.
    **{("pipeline/metadata/artifact_files.py", function, "Path"): "local branch of is_uri"
       for function in ("is_file", "is_dir", "read_text", "read_bytes", "local_folder", "source_uri")},
}


@dataclass(frozen=True)
class Finding:
    """A local-only call given an artifact URI."""

    file: str
    line: int
    function: str
    call: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}: {self.call}(<artifact URI>)"


def call_name(func: ast.expr) -> str:
    """Dotted name of a call's target ('shutil.copy', 'Path', 'os.path.exists'), '' if computed."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        owner = call_name(func.value)
        return f"{owner}.{func.attr}" if owner else ""
    return ""


def is_local_call(name: str) -> bool:
    """Whether a call reads or writes this machine's disk only."""
    module, _, function = name.rpartition(".")
    if name in LOCAL_CALLS or module.split(".")[0] in LOCAL_MODULES:
        return True
    if module == "os.path":
        return function not in PURE_OS_PATH
    return module == "os" and function in LOCAL_OS


def mentions_uri(node: ast.AST, tainted: set[str]) -> bool:
    """Whether an expression holds or derives from an artifact URI."""
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and URI_NAME.search(child.attr):
            return True
        if isinstance(child, ast.Name) and (URI_NAME.search(child.id) or child.id in tainted):
            return True
        if isinstance(child, ast.Call) and call_name(child.func).rpartition(".")[2] in URI_CALLS:
            return True
    return False


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def own_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of a scope, not descending into the functions it defines (their own scopes)."""
    nodes, pending = [], list(ast.iter_child_nodes(scope))
    while pending:
        node = pending.pop()
        nodes.append(node)
        if not isinstance(node, FUNCTIONS):
            pending.extend(ast.iter_child_nodes(node))
    return nodes


def assignments(nodes: list[ast.AST]) -> list[tuple[list[ast.expr], ast.expr]]:
    """(targets, value) of every assignment, loop, walrus and `with ... as` among the nodes."""
    pairs: list[tuple[list[ast.expr], ast.expr]] = []
    for node in nodes:
        if isinstance(node, ast.Assign):
            pairs.append((node.targets, node.value))
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value:
            pairs.append(([node.target], node.value))
        elif isinstance(node, (ast.For, ast.comprehension)):
            pairs.append(([node.target], node.iter))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            pairs.append(([node.optional_vars], node.context_expr))
    return pairs


def tainted_names(nodes: list[ast.AST], inherited: set[str]) -> set[str]:
    """Variables assigned, directly or through others, from an artifact URI (closures inherit
    their enclosing function's)."""
    tainted, pairs = set(inherited), assignments(nodes)
    while True:
        grown = {
            name.id
            for targets, value in pairs if mentions_uri(value, tainted)
            for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)
        }
        if grown <= tainted:
            return tainted
        tainted |= grown


def scope_findings(
    scope: ast.AST, function: str, file: str, inherited: set[str]
) -> list[Finding]:
    """Findings of one scope, then of the functions it defines."""
    nodes = own_nodes(scope)
    tainted = tainted_names(nodes, inherited)
    found = []
    for node in nodes:
        if isinstance(node, FUNCTIONS):
            found += scope_findings(node, node.name, file, tainted)
        elif isinstance(node, ast.Call) and is_local_call(name := call_name(node.func)):
            arguments = [*node.args, *(k.value for k in node.keywords)]
            if any(mentions_uri(a, tainted) for a in arguments) and (
                    file, function, name) not in ALLOWED:
                found.append(Finding(file, node.lineno, function, name))
    return found


def findings(source: str, file: str) -> list[Finding]:
    """Every local-only call with an artifact URI among its arguments, outside ALLOWED."""
    found = scope_findings(ast.parse(source), "<module>", file, set())
    return sorted(found, key=lambda f: (f.file, f.line, f.call))


def test_no_local_file_call_on_an_artifact_uri_in_pipeline() -> None:
    problems = [
        str(finding)
        for folder in SCANNED
        for path in sorted(folder.rglob("*.py"))
        for finding in findings(path.read_text(encoding="utf-8"),
                                str(path.relative_to(PROJECT_ROOT)))
    ]
    assert problems == []


def test_every_allowed_place_still_exists() -> None:
    """An allow-list entry whose call went away is dead: remove it."""
    for file, function, call in ALLOWED:
        tree = ast.parse((PROJECT_ROOT / file).read_text(encoding="utf-8"))
        bodies = [n for n in ast.walk(tree) if isinstance(n, FUNCTIONS) and n.name == function]
        calls = [call_name(n.func) for body in bodies for n in ast.walk(body)
                 if isinstance(n, ast.Call)]
        assert call in calls, (file, function, call)


BAD_SNIPPETS = {
    "path of an artifact's uri": ("def f(schema):\n    return Path(schema.uri) / 'schema.pbtxt'\n",
                                  "Path"),
    "open of a joined uri": ("def f(run_context):\n"
                             "    with open(os.path.join(run_context.uri, 'x.json'), 'w') as h:\n"
                             "        h.write('{}')\n", "open"),
    "shutil on uris": ("def f(a, b):\n    shutil.copy(a.uri, b.uri)\n", "shutil.copy"),
    "a *_uri parameter": ("def f(examples_uri):\n    return os.path.isdir(examples_uri)\n",
                          "os.path.isdir"),
    "through variables": ("def f(model):\n    base = model.uri\n    d = os.path.join(base, 'x')\n"
                          "    for p in pathlib.Path(d).glob('*'):\n        print(p)\n",
                          "pathlib.Path"),
    "TFX's model path": ("def f(self, inputs):\n    return Path(self.GetModelPath(inputs))\n",
                         "Path"),
    "walrus and listdir": ("def f(a):\n    if (u := a.uri):\n        os.listdir(u)\n",
                           "os.listdir"),
}


@pytest.mark.parametrize("name", sorted(BAD_SNIPPETS))
def test_the_checker_catches(name: str) -> None:
    source, call = BAD_SNIPPETS[name]
    assert [f.call for f in findings(source, "snippet.py")] == [call]


GOOD_SNIPPETS = {
    "fileio": ("def f(run_context):\n"
               "    with fileio.open(os.path.join(run_context.uri, 'x.json'), 'w') as h:\n"
               "        h.write('{}')\n"),
    "gfile listing": ("def f(examples_uri):\n    d = os.path.join(examples_uri, 'Split-eval')\n"
                      "    return [os.path.basename(n) for n in tf.io.gfile.listdir(d)]\n"),
    "local config file": ("def f(config):\n    return Path(config.schema_path).read_text()\n"),
}


@pytest.mark.parametrize("name", sorted(GOOD_SNIPPETS))
def test_the_checker_passes(name: str) -> None:
    assert findings(GOOD_SNIPPETS[name], "snippet.py") == []


def test_allowed_only_where_listed() -> None:
    source = "def local_model(model_uri):\n    return Path(model_uri)\n"
    assert findings(source, "pipeline/graph/serving_pusher.py") == []
    assert [f.function for f in findings(source, "pipeline/graph/other.py")] == ["local_model"]
