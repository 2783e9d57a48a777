"""The installs and the Binder image: requirements.txt is what a learner needs, requirements-dev.txt adds the
developer's tools, binder/environment.yml carries the learner's set with pins that allow the versions
requirements.txt allows, and repo2docker accepts the folder."""
from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# requirements.txt name -> its conda-forge name in binder/environment.yml
CONDA_NAMES = {"torch": "pytorch-cpu", "matplotlib": "matplotlib-base"}
# in the image but not in requirements.txt: the interpreter, the installer and build backend, the BLAS choice
CONDA_ONLY = {"python", "pip", "setuptools", "nomkl"}
CONDA_SPEC = re.compile(r"^([A-Za-z0-9_.-]+)\s*(.*)$")


def read_requirements(name: str) -> dict[str, Requirement]:
    """{canonical name: Requirement} from one requirements file, leaving out the files it includes (-r)."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def read_environment() -> tuple[dict[str, str], dict[str, Requirement]]:
    """({conda name: match spec after the name}, {canonical name: pip Requirement}) from
    binder/environment.yml."""
    import yaml

    environment = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    assert environment["channels"][0] == "conda-forge", environment["channels"]
    conda: dict[str, str] = {}
    pip: dict[str, Requirement] = {}
    for dependency in environment["dependencies"]:
        if isinstance(dependency, dict):
            pip.update((canonicalize_name(r.name), r) for r in map(Requirement, dependency["pip"]))
        else:
            name, spec = CONDA_SPEC.match(dependency).groups()
            conda[name.lower()] = spec.strip()
    return conda, pip


def conda_specifier(spec: str) -> SpecifierSet:
    """The versions a conda match spec (what follows the name) allows; its build string is left out.

    >>> conda_specifier("=2.14").contains("2.14.1"), conda_specifier("=2.14").contains("2.13.0")
    (True, False)
    >>> conda_specifier("=*=cpu*") == SpecifierSet(""), conda_specifier(">=1.26,<3")
    (True, <SpecifierSet('<3,>=1.26')>)
    """
    if spec.startswith("=") and not spec.startswith("=="):  # =VERSION[=BUILD]: VERSION.* (fuzzy)
        version = spec[1:].split("=")[0]
        return SpecifierSet("" if version == "*" else f"=={version.rstrip('.*')}.*")
    if not spec or re.fullmatch(r"\d[\w.]*(\.\*)?", spec):  # bare VERSION means ==VERSION
        return SpecifierSet(f"=={spec}" if spec else "")
    if not re.fullmatch(r"((==|!=|>=|<=|>|<)\d[\w.]*(\.\*)?,?)+", spec):
        raise ValueError(f"conda spec: got {spec!r}; expected =V, =V=BUILD, V, or ==/!=/>=/<=/>/< V "
                         "joined by ','")
    return SpecifierSet(spec)


def allows_a_common_version(first: SpecifierSet, second: SpecifierSet) -> bool:
    """Whether one version satisfies both: tried at 0, at every version either names, and just above each.

    >>> allows_a_common_version(SpecifierSet(">=2.13"), SpecifierSet("==2.14.1"))
    True
    >>> allows_a_common_version(SpecifierSet("==2.13.*"), SpecifierSet("==2.14.1"))
    False
    """
    named = [Version(s.version.removesuffix(".*")) for s in [*first, *second]]
    candidates = [Version("0"), *named, *(Version(f"{v.base_version}.1") for v in named)]
    return any(both.contains(v, prereleases=True) for both in [first & second] for v in candidates)


def kit_imports() -> dict[str, set[str]]:
    """{top-level module: files} for every module that colearn_nb and the notebooks import, outside the
    standard library and the kit."""
    from IPython.core.inputtransformer2 import TransformerManager

    sources = {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "colearn_nb").rglob("*.py")}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        sources[path.name] = "\n".join(TransformerManager().transform_cell(cell) for cell in code)  # magics
    found: dict[str, set[str]] = {}
    for where, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(where)
    return {m: w for m, w in found.items() if m not in sys.stdlib_module_names and m != "colearn_nb"}


def imported_distributions() -> dict[str, set[str]]:
    """{canonical distribution name: files importing it}, through the distributions installed here."""
    providers = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for module, where in kit_imports().items():
        assert module in providers, f"{module} (imported by {sorted(where)}) is not installed here"
        found.setdefault(canonicalize_name(providers[module][0]), set()).update(where)
    return found


def dependency_closure(requirements: Iterable[Requirement]) -> set[str]:
    """Canonical names of these requirements and of everything their installed metadata requires in turn
    (with the extras they ask for)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [(canonicalize_name(r.name), frozenset(r.extras)) for r in requirements]
    while queue:
        item = queue.pop()
        if item in seen:
            continue
        seen.add(item)
        try:
            requires = importlib.metadata.requires(item[0]) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in map(Requirement, requires):
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in {"", *item[1]}):
                queue.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in seen}


def binder_requirements() -> list[Requirement]:
    """The image's packages as pip requirements (conda names mapped back, versions left out)."""
    conda, pip = read_environment()
    pip_names = {conda_name: name for name, conda_name in CONDA_NAMES.items()}
    conda_requirements = [Requirement(pip_names.get(name, name)) for name in conda if name not in CONDA_ONLY]
    return conda_requirements + list(pip.values())


def test_the_conda_spec_helpers_tell_compatible_pins_from_incompatible_ones():
    assert allows_a_common_version(conda_specifier(">=2.13"), SpecifierSet("==2.14.1"))
    assert allows_a_common_version(conda_specifier("=2.14"), SpecifierSet("==2.14.1"))
    assert allows_a_common_version(conda_specifier("=*=cpu*"), SpecifierSet("==0.29.1"))
    assert allows_a_common_version(conda_specifier("<2"), SpecifierSet("<3"))
    assert allows_a_common_version(conda_specifier(">1.5"), SpecifierSet("<=1.6"))
    assert not allows_a_common_version(conda_specifier("=2.13"), SpecifierSet("==2.14.1"))
    assert not allows_a_common_version(conda_specifier("2.13.0"), SpecifierSet("==2.14.1"))
    assert not allows_a_common_version(conda_specifier(">=1.6,<2"), SpecifierSet(">=2"))
    with pytest.raises(ValueError, match=r"conda spec: got '~=1.2'; expected"):
        conda_specifier("~=1.2")


def test_the_learners_set_holds_no_developer_tools():
    learner, developer = read_requirements("requirements.txt"), read_requirements("requirements-dev.txt")
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert set(learner) & set(developer) == set(), "each package is in one of the two files"
    kit_needs = set(imported_distributions())
    assert kit_needs - dependency_closure(learner.values()) == set(), "the kit needs these: requirements.txt"
    tools = {"pytest", "nbval", "playwright", "jupyter-repo2docker", "ruff", "mypy"}
    assert tools <= set(developer) and not tools & dependency_closure(learner.values())


def test_every_package_the_kit_imports_is_in_the_binder_image():
    in_image = dependency_closure(binder_requirements())
    imported = imported_distributions()
    missing = {name: sorted(files) for name, files in imported.items() if name not in in_image}
    assert missing == {}, f"imported by the kit, absent from binder/environment.yml: {missing}"


def test_the_binder_image_carries_requirements_txt_with_compatible_pins():
    conda, pip = read_environment()
    for name, requirement in read_requirements("requirements.txt").items():
        conda_name = CONDA_NAMES.get(name, name)
        assert (conda_name in conda) != (name in pip), f"{name}: once in binder/environment.yml, conda or pip"
        pinned = conda_specifier(conda[conda_name]) if conda_name in conda else pip[name].specifier
        assert allows_a_common_version(pinned, requirement.specifier), \
            f"{conda_name}: binder allows {pinned}, requirements.txt {requirement.specifier}: none in common"
        assert name not in pip or pip[name].extras == requirement.extras, f"{name}: extras differ"
    extra = set(conda) - CONDA_ONLY - {CONDA_NAMES.get(n, n) for n in read_requirements("requirements.txt")}
    assert extra == set(), f"in binder/environment.yml but not in requirements.txt: {sorted(extra)}"


def test_the_binder_image_is_cpu_only_with_openblas():
    conda, pip = read_environment()
    assert {"pytorch", "pytorch-gpu", "mkl"}.isdisjoint(conda) and "pytorch-cpu" in conda, sorted(conda)
    assert conda["torchvision"] == "=*=cpu*", "torchvision: any version, the CPU build, paired by the solver"
    assert "nomkl" in conda, "nomkl selects pytorch's OpenBLAS build, smaller than the MKL one"
    assert {"opacus", "flwr"} <= set(pip), "opacus's conda recipe pins numpy<2; flwr's is older than 1.42"


def test_each_binder_pin_says_what_its_recipe_holds():
    lines = (ROOT / "binder" / "environment.yml").read_text().split("dependencies:")[1].splitlines()
    pins = [line for line in lines if re.match(r"^\s+- \S", line) and not line.strip().startswith("- pip:")]
    assert pins and all(re.search(r"#\s*\S", line) for line in pins), [p for p in pins if "#" not in p]


def test_repo2docker_accepts_the_binder_folder():
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    assert shutil.which("jupyter-repo2docker", path=path), \
        "jupyter-repo2docker is not installed: see requirements-dev.txt"
    run = subprocess.run(["jupyter-repo2docker", "--no-build", "--no-run", "--debug", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": path})
    dockerfile = run.stdout + run.stderr
    assert run.returncode == 0, dockerfile[-3000:]
    assert "FROM " in dockerfile and "binder/environment.yml" in dockerfile
    assert "binder/postBuild" in dockerfile


def test_postbuild_installs_the_package():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert re.search(r"pip install .*(-e )?\.$", post_build.read_text(), re.M)


def quick_start_commands() -> list[str]:
    """The command lines of the README's Quick start."""
    section = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [line for block in re.findall(r"```bash\n(.*?)```", section, re.S) for line in block.splitlines()]


def test_the_readme_commands_install_each_set_and_ci_runs_the_second():
    first, second = quick_start_commands()[:2]
    assert "-r requirements.txt -e ." in first and first.endswith("python -m colearn_nb.demo"), first
    assert "-r requirements-dev.txt -e ." in second and second.endswith("python -m pytest"), second
    assert second in (ROOT / ".ci" / "run").read_text().splitlines(), ".ci/run runs the README's test command"


def test_pyproject_names_every_requirement():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {n: {canonicalize_name(Requirement(r).name) for r in rs}
             for n, rs in {"": project["dependencies"], **project["optional-dependencies"]}.items()}
    learner = set().union(*(names[n] for n in names if n != "test"))
    assert learner == set(read_requirements("requirements.txt")), "dependencies + extras = requirements.txt"
    assert names["test"] == set(read_requirements("requirements-dev.txt")), "test = requirements-dev.txt"
