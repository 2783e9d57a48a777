"""Where workshops run: every badge and install line comes from one repository path, and notebook 00 run
by a Python without the kit (as on Colab) installs the kit with its own first cell, then runs; notebook 12's
first cell, where installing moves a package the kernel had imported, says in one line to restart."""
from __future__ import annotations

import doctest
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SPEC = importlib.util.spec_from_file_location("set_badges", ROOT / "scripts" / "set_badges.py")
assert SPEC is not None and SPEC.loader is not None
set_badges = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(set_badges)
# runs a notebook in place with nbclient: python RUNNER notebook.ipynb
RUNNER = """
import sys
from pathlib import Path
import nbclient, nbformat
path = Path(sys.argv[1])
notebook = nbformat.read(path, as_version=4)
client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                 allow_errors="--allow-errors" in sys.argv,
                                 resources={"metadata": {"path": str(path.parent)}})
try:
    client.execute()
finally:
    nbformat.write(notebook, path)
"""


def first_cells(path: Path) -> tuple[str, str]:
    """The source of a notebook's first markdown cell and of its first code cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown, code = (next(c for c in cells if c["cell_type"] == kind) for kind in ("markdown", "code"))
    return "".join(markdown["source"]), "".join(code["source"])


def copy_badged_files(target: Path) -> Path:
    """A copy of every file the script reads or writes, under ``target``."""
    (target / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / set_badges.PLACE, target / set_badges.PLACE)
    shutil.copy(ROOT / "README.md", target / "README.md")
    shutil.copytree(ROOT / "notebooks", target / "notebooks", ignore=shutil.ignore_patterns(".*"))
    return target


def test_every_badge_and_install_line_agrees_with_the_one_place():
    repository, ref = set_badges.read_place(ROOT)
    assert set_badges.problems(ROOT) == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert set_badges.binder_url(repository, ref, "lab/tree/notebooks/00_start_here.ipynb") in readme
    assert set_badges.colab_url(repository, ref, "00_start_here.ipynb") in readme
    assert "urlpath=voila/render/notebooks/07_dashboard.ipynb" in readme
    for path in NOTEBOOKS:
        markdown, code = first_cells(path)
        assert set_badges.colab_url(repository, ref, path.name) in markdown, path.name
        assert f'"{set_badges.install_url(repository, ref)}"' in code, path.name
        assert code.startswith("try:\n    import colearn_nb\nexcept ImportError:"), path.name
        assert "\ncolearn_nb.setup_notebook(seed=0)" in code, path.name


def test_the_dashboard_alone_has_a_voila_badge():
    voila = [path.name for path in NOTEBOOKS if "urlpath=voila/render/" in first_cells(path)[0]]
    assert voila == ["07_dashboard.ipynb"]


def test_set_badges_moves_every_badge_to_a_new_repository_and_back(tmp_path):
    root = copy_badged_files(tmp_path)
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    repository, ref = set_badges.read_place(root)
    assert set_badges.main(["someone/colearn-kit", "--ref", "v1.2", "--root", str(root)]) == 0
    assert set_badges.read_place(root) == ("someone/colearn-kit", "v1.2")
    assert set_badges.problems(root) == []
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert set_badges.colab_url("someone/colearn-kit", "v1.2", "00_start_here.ipynb") in readme
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        markdown, code = first_cells(path)
        assert set_badges.colab_url("someone/colearn-kit", "v1.2", path.name) in markdown
        assert '"git+https://github.com/someone/colearn-kit@v1.2"' in code
        assert repository not in markdown + code, path.name
        old_code = first_cells(ROOT / "notebooks" / path.name)[1]
        assert set_badges.without_install_block(code) == set_badges.without_install_block(old_code)
    dashboard = first_cells(root / "notebooks" / "07_dashboard.ipynb")[0]
    voila = "https://mybinder.org/v2/gh/someone/colearn-kit/v1.2?urlpath=voila/render/notebooks/07_dashboard.ipynb"
    assert voila in dashboard and voila in readme
    assert set_badges.main(["--root", str(root)]) == 0
    assert set_badges.main([repository, "--ref", ref, "--root", str(root)]) == 0
    assert {path: path.read_bytes() for path in before} == before, "back to the same bytes"


def test_set_badges_keeps_every_other_cell(tmp_path):
    root = copy_badged_files(tmp_path)
    set_badges.main(["someone/colearn-kit", "--ref", "main", "--root", str(root)])
    for path in NOTEBOOKS:
        old = json.loads(path.read_text(encoding="utf-8"))
        new = json.loads((root / "notebooks" / path.name).read_text(encoding="utf-8"))
        assert new["metadata"] == old["metadata"] and len(new["cells"]) == len(old["cells"])
        first = {next(i for i, c in enumerate(old["cells"]) if c["cell_type"] == kind)
                 for kind in ("markdown", "code")}
        assert [c for i, c in enumerate(new["cells"]) if i not in first] == \
               [c for i, c in enumerate(old["cells"]) if i not in first], path.name


def test_check_names_a_badge_that_points_elsewhere(tmp_path, capsys):
    root = copy_badged_files(tmp_path)
    repository, ref = set_badges.read_place(root)
    path = root / "notebooks" / "05_run_rounds.ipynb"
    path.write_text(path.read_text(encoding="utf-8").replace(f"/{repository}/blob/", "/a-fork/kit/blob/"),
                    encoding="utf-8")
    assert set_badges.main(["--check", "--root", str(root)]) == 1
    found = capsys.readouterr().out.splitlines()
    assert any(line.startswith("notebooks/05_run_rounds.ipynb: badges or install cell differ")
               for line in found), found
    assert any("points at a-fork/kit @ " in line for line in found), found
    assert len(found) == 2, found


@pytest.mark.parametrize("argv, message", [
    (["https://github.com/a/b"], "repository: got 'https://github.com/a/b'; expected OWNER/REPO"),
    (["a/b", "--ref", "v1 beta"], "ref: got 'v1 beta'; expected a branch, tag or commit"),
])
def test_a_bad_repository_or_ref_is_refused_and_nothing_changes(tmp_path, capsys, argv, message):
    root = copy_badged_files(tmp_path)
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    assert set_badges.main([*argv, "--root", str(root)]) == 2
    assert message in capsys.readouterr().err
    assert {path: path.read_bytes() for path in before} == before


def test_the_script_examples_hold():
    result = doctest.testmod(set_badges)
    assert result.attempted >= 8 and result.failed == 0


def test_the_newest_releases_job_installs_every_requirement_without_its_pin():
    spec = importlib.util.spec_from_file_location("newest", ROOT / ".ci" / "newest_requirements.py")
    assert spec is not None and spec.loader is not None
    newest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(newest)
    assert doctest.testmod(newest).failed == 0
    requirement = pytest.importorskip("packaging.requirements").Requirement
    pinned = [requirement(line.split("#")[0]) for name in ("requirements.txt", "requirements-dev.txt")
              for line in (ROOT / name).read_text().splitlines() if line.split("#")[0].strip()
              and not line.startswith("-r")]
    unpinned = [requirement(line) for line in newest.packages(ROOT / "requirements-dev.txt")]
    assert [(r.name, r.extras) for r in unpinned] == [(r.name, r.extras) for r in pinned]
    assert all(not r.specifier and r.url is None for r in unpinned), unpinned


def dev_packages_without_the_kit(target: Path) -> Path:
    """A folder of links to this Python's installed packages, leaving out colearn_nb and every .pth file."""
    target.mkdir()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    for entry in site_packages.iterdir():
        if not entry.name.startswith(("colearn_nb", "__editable__")) and entry.suffix != ".pth":
            (target / entry.name).symlink_to(entry)
    return target


def source_as_cloned(target: Path) -> Path:
    """The checkout's files as a clone would have them once committed (tracked and new, not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        ignore = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "output", "artifacts")
        shutil.copytree(ROOT, target, ignore=ignore)
        return target
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def fresh_python(tmp_path: Path) -> tuple[Path, Path]:
    """A new virtual environment that sees this one's packages but not colearn_nb: python, site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "fresh")], check=True,
                   timeout=120)
    python = tmp_path / "fresh" / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([str(python), "-c", where], capture_output=True, text=True,
                               check=True).stdout.strip())
    (site / "dev_packages.pth").write_text(f"{dev_packages_without_the_kit(tmp_path / 'dev_packages')}\n")
    kernel = tmp_path / "fresh" / "share" / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({"argv": [str(python), "-m", "ipykernel_launcher", "-f",
                                                             "{connection_file}"],
                                                    "display_name": "Python 3", "language": "python"}))
    return python, site


def with_checks(notebook: Path, target: Path) -> Path:
    """A copy of ``notebook`` with a cell before it (the kit is not importable) and one after (where from)."""
    content = json.loads(notebook.read_text(encoding="utf-8"))
    before = ("import importlib.util, sys\nprint('prefix', sys.prefix)\n"
              "assert importlib.util.find_spec('colearn_nb') is None, 'importable before the first cell'")
    after = "print('kit', colearn_nb.__file__)"
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    content["cells"] = [{**cell, "source": before}, *content["cells"], {**cell, "source": after}]
    target.mkdir()
    path = target / notebook.name
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def printed(cell: dict) -> str:
    """What a cell printed (nbformat writes text as a list of lines)."""
    return "".join("".join(output["text"]) for output in cell["outputs"] if output["output_type"] == "stream")


@pytest.mark.skipif(importlib.util.find_spec("nbclient") is None, reason="nbclient is not installed")
@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None,  # pip install setuptools
                    reason="setuptools is not installed: the fresh environment builds the kit with it")
def test_notebook_00_installs_the_kit_with_its_first_cell_where_it_is_missing(tmp_path):
    python, site = fresh_python(tmp_path)
    source = source_as_cloned(tmp_path / "source")
    notebook = with_checks(ROOT / "notebooks" / "00_start_here.ipynb", tmp_path / "run")
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    env.update(COLEARN_NB_INSTALL_SOURCE=source.as_uri(), PIP_NO_INDEX="1", PYTHONNOUSERSITE="1",
               PIP_NO_BUILD_ISOLATION="0",  # read as --no-build-isolation: setuptools from dev_packages
               PIP_DISABLE_PIP_VERSION_CHECK="1", JUPYTER_PREFER_ENV_PATH="1")
    run = subprocess.run([str(python), "-c", RUNNER, str(notebook)], cwd=notebook.parent, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    executed = json.loads(notebook.read_text(encoding="utf-8"))
    cells = [cell for cell in executed["cells"] if cell["cell_type"] == "code"]
    assert printed(cells[0]).split() == ["prefix", str(tmp_path / "fresh")]
    assert "shipped digits" in printed(cells[1]), printed(cells[1])
    assert printed(cells[-1]).split() == ["kit", str(site / "colearn_nb" / "__init__.py")]
    assert (site / "colearn_nb" / "tutorial" / "mnist_5k.npz").is_file(), "the digits are package data"
    installed = json.loads(next(site.glob("colearn_nb-*.dist-info/direct_url.json")).read_text())
    assert installed["url"] == source.as_uri() and "editable" not in installed.get("dir_info", {})


def older_packaging(site: Path) -> str:
    """Put the release of ``packaging`` that pip carries (older than the one installed) into ``site``."""
    from pip._vendor import packaging as carried

    version = carried.__version__
    shutil.copytree(Path(carried.__file__).parent, site / "packaging",
                    ignore=shutil.ignore_patterns("__pycache__"))
    info = site / f"packaging-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: packaging\nVersion: {version}\n")
    files = [*(path.relative_to(site).as_posix() for path in (site / "packaging").rglob("*.py")),
             f"{info.name}/METADATA", f"{info.name}/RECORD"]
    (info / "RECORD").write_text("".join(f"{name},,\n" for name in files))  # so that pip can replace it
    return version


def wheel_of_installed(name: str, target: Path) -> Path:
    """A wheel of the installed distribution ``name``, zipped from its files: what pip finds with no index."""
    found = importlib.metadata.distribution(name)
    target.mkdir(exist_ok=True)
    wheel = target / f"{name}-{found.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for file in found.files or []:
            if "__pycache__" not in file.parts and not file.as_posix().startswith(".."):
                archive.write(file.locate(), file.as_posix())
    return wheel


def kit_wheel(source: Path, target: Path) -> Path:
    """The kit built as a wheel into ``target`` (built here: the fresh Python's setuptools would find an
    old ``packaging`` first)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(target), str(source)], check=True, capture_output=True, timeout=300)
    return next(target.glob("colearn_nb-*.whl"))


def notebook_of(cells: list[str], path: Path) -> Path:
    """A notebook at ``path`` with these code cells."""
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    content = json.loads(NOTEBOOKS[0].read_text(encoding="utf-8"))
    content["cells"] = [{**cell, "source": source} for source in cells]
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def run_cells(python: Path, cells: list[str], path: Path, env: dict[str, str]) -> list[dict]:
    """Run ``cells`` in a fresh kernel of ``python``, errors kept as outputs; the executed code cells."""
    notebook = notebook_of(cells, path)
    run = subprocess.run([str(python), "-c", RUNNER, str(notebook), "--allow-errors"], cwd=notebook.parent,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(notebook.read_text(encoding="utf-8"))["cells"]


def offline_pip(source: Path, find_links: Path) -> dict[str, str]:
    """The environment for a fresh kernel whose pip installs the kit from ``source``, offline."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    env.update(COLEARN_NB_INSTALL_SOURCE=source.as_uri(), PIP_NO_INDEX="1", PYTHONNOUSERSITE="1",
               PIP_NO_BUILD_ISOLATION="0", PIP_FIND_LINKS=str(find_links), PIP_DISABLE_PIP_VERSION_CHECK="1",
               JUPYTER_PREFER_ENV_PATH="1", COLEARN_NB_OFFLINE="1")
    return env


@pytest.mark.skipif(importlib.util.find_spec("nbclient") is None, reason="nbclient is not installed")
@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None,  # pip install setuptools
                    reason="setuptools is not installed: the fresh environment builds the kit with it")
@pytest.mark.skipif(importlib.util.find_spec("flwr") is None, reason="Flower is not installed")
def test_notebook_12_says_to_restart_when_installing_moves_a_package_the_kernel_imported(tmp_path):
    python, site = fresh_python(tmp_path)
    old = older_packaging(site)
    new = importlib.metadata.version("packaging")
    if old == new:
        pytest.skip(f"pip carries packaging {old}, the installed release: nothing older to start from")
    wheels = wheel_of_installed("packaging", tmp_path / "wheels").parent  # the installed release, newer
    env = offline_pip(kit_wheel(source_as_cloned(tmp_path / "source"), wheels), wheels)
    first = first_cells(ROOT / "notebooks" / "12_many_machines.ipynb")[1]
    imported = ("import packaging.version\n"
                "print('packaging', packaging.version.__file__, packaging.__version__)")
    before, cell = run_cells(python, [imported, first], tmp_path / "run" / "before.ipynb", env)
    assert printed(before).split() == ["packaging", str(site / "packaging" / "version.py"), old], before
    *pip_said, error = cell["outputs"]  # pip: "Note: you may need to restart the kernel ..."; then the line
    assert [output["output_type"] for output in pip_said] == ["stream"] * len(pip_said), pip_said
    assert error["output_type"] == "error", cell["outputs"]
    assert error["ename"] == "RestartNeeded" and error["traceback"] == [error["evalue"]], error
    assert error["evalue"].startswith("Restart the runtime (Colab: Runtime > Restart session; ")
    assert f"installing changed packaging {old} -> {new}, already imported" in error["evalue"]
    after = "import packaging\nprint('packaging', packaging.__version__, 'flwr', flwr.__version__)"
    cell, versions = run_cells(python, [first, after], tmp_path / "run" / "after.ipynb", env)  # restarted
    assert not [output for output in cell["outputs"] if output["output_type"] == "error"], cell["outputs"]
    assert printed(versions).split() == ["packaging", new, "flwr", importlib.metadata.version("flwr")]
