"""The package's shape: layers importing only the ones before them, a light protocol, one public top level."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import colearn_nb
from colearn_nb import check_int, check_number

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "colearn_nb"
# each layer and what it may import from the package (besides itself)
# (the tutorial's comparison runs Flower's FedAvg through flower/aggregation.py, which loads flwr when run)
ALLOWED = {"protocol": set(), "pytorch": {"protocol"}, "tutorial": {"protocol", "pytorch", "flower"},
           "viz": {"protocol", "pytorch", "tutorial"}, "flower": {"protocol", "pytorch"}}
MNIST_APP = PACKAGE / "flower" / "mnist_app.py"  # the one Flower module that may use the tutorial's learners


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else "top"


def imported_layers(path: Path, source: str | None = None) -> set:
    """The package's top-level folders (or top-level modules) that ``path`` imports, anywhere in the file."""
    package_parts = ("colearn_nb",) + path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[:len(package_parts) - node.level + 1]
                target = base + tuple((node.module or "").split(".")) if node.module else base
                names = [target + (alias.name,) for alias in node.names] if not node.module else [target]
            else:
                names = [tuple((node.module or "").split("."))]
        elif isinstance(node, ast.Import):
            names = [tuple(alias.name.split(".")) for alias in node.names]
        else:
            continue
        for name in names:
            if name[0] == "colearn_nb":
                found.add(name[1] if len(name) > 1 else "colearn_nb")
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if layer_of(p) != "top")


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_each_layer_imports_only_the_layers_before_it(path):
    layer = layer_of(path)
    wrong = imported_layers(path) - ALLOWED[layer] - {layer} - ({"tutorial"} if path == MNIST_APP else set())
    if path.name == "display.py":
        wrong -= {"__version__"}  # setup_notebook prints the version
    where = f"{path.relative_to(ROOT)} ({layer})"
    assert not wrong, f"{where} imports {sorted(wrong)}; allowed: {sorted(ALLOWED[layer])}"


def test_the_layering_check_catches_a_wrong_import():
    inside_protocol = PACKAGE / "protocol" / "round.py"
    assert imported_layers(inside_protocol, "from .checks import x") == {"protocol"}
    assert imported_layers(inside_protocol, "def f():\n    from ..pytorch.learner import x") == {"pytorch"}
    assert imported_layers(inside_protocol, "import colearn_nb.viz.live") == {"viz"}
    worker = PACKAGE / "flower" / "deploy" / "worker.py"
    assert imported_layers(worker, "from ...tutorial import net") == {"tutorial"}


def test_the_folder_listing_shows_the_layers():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == {"protocol", "pytorch", "tutorial", "viz", "flower"}
    top_modules = {p.name for p in PACKAGE.glob("*.py")}
    commands = {"demo.py", "classroom.py", "__main__.py"}
    assert top_modules == {"__init__.py", "compat.py", *commands}
    assert (PACKAGE / "flower" / "deploy").is_dir()


def test_importing_the_protocol_loads_neither_torch_nor_matplotlib():
    code = ("import sys, colearn_nb.protocol, colearn_nb.protocol.loop, colearn_nb.protocol.round, "
            "colearn_nb.protocol.results, colearn_nb.protocol.checks, colearn_nb.protocol.interface; "
            "heavy = ('torch', 'matplotlib', 'numpy', 'tqdm'); "
            "print(sorted(m for m in heavy if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr


def test_the_deployment_server_app_loads_no_torch():
    """The teacher's ServerApp process only moves records and votes: no torch (0.5 GB, seconds to import)."""
    pytest.importorskip("flwr")
    code = ("import sys; from colearn_nb.flower.deploy.server_app import server_app; "
            "print('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=True)
    assert run.stdout.strip() == "False", run.stdout + run.stderr


def test_every_public_name_imports_from_the_top_level():
    for name in colearn_nb.__all__:
        assert getattr(colearn_nb, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        colearn_nb.nothing_here  # noqa: B018


def code_of_notebook(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")


def test_notebooks_and_readme_import_only_the_top_level():
    sources = {p.name: code_of_notebook(p) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    sources["README.md"] = (ROOT / "README.md").read_text()
    deep = re.compile(r"(from|import)\s+colearn_nb\.(?!flower\b)\w+")
    offenders = {name: [m.group(0) for m in deep.finditer(text)] for name, text in sources.items()}
    assert {name: found for name, found in offenders.items() if found} == {}
    assert len(sources) >= 14


@pytest.mark.parametrize("value", [True, False, float("nan"), float("inf"), "1", None, 1.5])
def test_check_int_refuses_bools_nan_and_non_integers(value):
    expected = rf"^n_rounds: got {re.escape(repr(value))}; expected an integer >= 0$"
    with pytest.raises(ValueError, match=expected):
        check_int("n_rounds", value, minimum=0)


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), "0.5", None, -0.1, 1.1])
def test_check_number_refuses_bools_nan_and_out_of_range(value):
    with pytest.raises(ValueError, match=r"^vote_threshold: got .*; expected a number in \[0, 1\]$"):
        check_number("vote_threshold", value, 0, 1)


def test_checks_accept_numpy_scalars_and_return_plain_numbers():
    numpy = pytest.importorskip("numpy")
    assert check_number("vote_threshold", numpy.float32(0.5), 0, 1) == 0.5
    assert type(check_int("n_rounds", numpy.int64(3), minimum=0)) is int


@pytest.mark.parametrize("call, named", [
    (lambda: colearn_nb.run_rounds([object(), object()], True), "n_rounds"),
    (lambda: colearn_nb.run_rounds([object(), object()], 1, vote_threshold=True), "vote_threshold"),
    (lambda: colearn_nb.run_one_round(True, [object(), object()]), "round_index"),
    (lambda: colearn_nb.TensorLoader(torch.zeros(2, 1), torch.zeros(2), batch_size=True), "batch_size"),
    (lambda: colearn_nb.DiffPrivConfig(float("nan"), 1e-5, 1.0, 1.0), "target_epsilon"),
    (lambda: colearn_nb.split_dataset(list(range(10)), True), "n"),
])
def test_every_layer_uses_the_same_checks(call, named):
    with pytest.raises(ValueError, match=rf"^{named}: got .*; expected "):
        call()


def test_the_readme_example_runs_as_written(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README shows how to use the package"
    script = tmp_path / "readme.py"
    script.write_text("\n".join(blocks))
    env = {**os.environ, "MPLBACKEND": "Agg", "COLEARN_NB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Round 19: learner 4 proposed" in run.stdout and "thread" in run.stdout.splitlines()[0]
