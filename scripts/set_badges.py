"""Point every badge and every notebook's install line at one GitHub repository and ref.

The repository and the ref (branch, tag or commit) live in one place, ``scripts/repository.txt``; this
script writes them into:

- ``README.md``: the badge line (Binder and Colab for ``00_start_here``, Voila for the dashboard);
- each notebook's first markdown cell: a badge line under the title (Colab and Binder; Voila for
  ``07_dashboard``);
- each notebook's first code cell: a ``try``/``except`` that installs the kit from the repository when
  ``import colearn_nb`` fails (on Colab), or from ``$COLEARN_NB_INSTALL_SOURCE`` when that is set, and then
  stops with one line asking for a restart when pip changed a package the kernel had already imported.

Usage::

    python scripts/set_badges.py OWNER/REPO [--ref REF]  # record them, then rewrite every badge
    python scripts/set_badges.py                         # rewrite every badge from scripts/repository.txt
    python scripts/set_badges.py --check                 # list what disagrees with it (exit status 1)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parents[1]
PLACE = Path("scripts") / "repository.txt"
DASHBOARD = "07_dashboard.ipynb"
# what a notebook needs beyond the kit and what Colab has: (the kit's extras, more packages)
NEEDS = {"03_define_the_net.ipynb": ("", " torchinfo"), "10_differential_privacy.ipynb": ("[privacy]", ""),
         "11_fair_comparison.ipynb": ("[flower]", ""),
         "12_many_machines.ipynb": ("[flower]", ""), "13_projector.ipynb": ("[flower]", ""),
         "14_robustness_lab.ipynb": ("[flower]", ""),
         "15_non_iid_lab.ipynb": ("[flower]", "")}
COLAB_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_IMAGE = "https://mybinder.org/badge_logo.svg"
VOILA_IMAGE = "https://img.shields.io/badge/launch-Voila-F37626"
REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")
REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
BADGE_LINE = re.compile(r"^\[!\[[^\]]*\]\([^)]*\)\]\(https://(colab\.research\.google\.com|mybinder\.org)/")
# every link that names a repository: (repository, ref) pairs of groups, one pair per kind of link
LINKS = re.compile(r"colab\.research\.google\.com/github/([^/\s]+/[^/\s]+)/blob/(\S+?)/notebooks/"
                   r"|mybinder\.org/v2/gh/([^/\s]+/[^/\s]+)/([^?\s)]+)"
                   r"|git\+https://github\.com/([^@\s\"']+)(?:@([^\s\"']+))?")


def check_repository(value: str) -> str:
    """Return ``value`` when it is a GitHub path ``OWNER/REPO``; else raise ``ValueError``.

    >>> check_repository("someone/colearn_nb")
    'someone/colearn_nb'
    >>> check_repository("github.com/a/b")
    Traceback (most recent call last):
    ValueError: repository: got 'github.com/a/b'; expected OWNER/REPO as in github.com/OWNER/REPO
    """
    if not REPOSITORY.fullmatch(value):
        raise ValueError(f"repository: got {value!r}; expected OWNER/REPO as in github.com/OWNER/REPO")
    return value


def check_ref(value: str) -> str:
    """Return ``value`` when it can name a branch, tag or commit; else raise ``ValueError``.

    >>> check_ref("v1.0")
    'v1.0'
    >>> check_ref("-x")
    Traceback (most recent call last):
    ValueError: ref: got '-x'; expected a branch, tag or commit (letters, digits, '.', '_', '-', '/')
    """
    if not REF.fullmatch(value) or value.endswith("/"):
        raise ValueError(f"ref: got {value!r}; expected a branch, tag or commit "
                         "(letters, digits, '.', '_', '-', '/')")
    return value


def read_place(root: Path = ROOT) -> tuple[str, str]:
    """The ``(repository, ref)`` recorded in ``scripts/repository.txt`` under ``root``."""
    values = {}
    for line in (root / PLACE).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return check_repository(values.get("repository", "")), check_ref(values.get("ref", ""))


def write_place(root: Path, repository: str, ref: str) -> None:
    """Record ``repository`` and ``ref`` in ``scripts/repository.txt``, keeping its comments."""
    path = root / PLACE
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [f"repository = {repository}" if line.startswith("repository") else
             f"ref = {ref}" if line.startswith("ref") else line for line in lines]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def colab_url(repository: str, ref: str, notebook: str) -> str:
    """Colab's address for a notebook of the repository.

    >>> colab_url("someone/kit", "v1.0", "00_start_here.ipynb")
    'https://colab.research.google.com/github/someone/kit/blob/v1.0/notebooks/00_start_here.ipynb'
    """
    return f"https://colab.research.google.com/github/{repository}/blob/{ref}/notebooks/{notebook}"


def binder_url(repository: str, ref: str, urlpath: str) -> str:
    """mybinder.org's address that builds the repository at ``ref`` and opens ``urlpath``.

    >>> binder_url("someone/kit", "fix/badges", "voila/render/notebooks/07_dashboard.ipynb")
    'https://mybinder.org/v2/gh/someone/kit/fix%2Fbadges?urlpath=voila/render/notebooks/07_dashboard.ipynb'
    """
    return f"https://mybinder.org/v2/gh/{repository}/{quote(ref, safe='')}?urlpath={urlpath}"


def install_url(repository: str, ref: str) -> str:
    """What pip installs the kit from: the repository at ``ref`` (the default branch for ``HEAD``).

    >>> install_url("someone/kit", "v1.0")
    'git+https://github.com/someone/kit@v1.0'
    """
    return f"git+https://github.com/{repository}" + ("" if ref == "HEAD" else f"@{ref}")


def notebook_badges(repository: str, ref: str, notebook: str) -> str:
    """The badge line under a notebook's title: Colab and Binder, and Voila for the dashboard."""
    badges = [f"[![Open in Colab]({COLAB_IMAGE})]({colab_url(repository, ref, notebook)})",
              f"[![Binder]({BINDER_IMAGE})]({binder_url(repository, ref, 'lab/tree/notebooks/' + notebook)})"]
    if notebook == DASHBOARD:
        voila = binder_url(repository, ref, "voila/render/notebooks/" + notebook)
        badges.append(f"[![Voila]({VOILA_IMAGE})]({voila})")
    return " ".join(badges)


def readme_badges(repository: str, ref: str) -> str:
    """The README's badge line: the sequence on Binder and on Colab, the dashboard as a Voila page."""
    start = "00_start_here.ipynb"
    voila = binder_url(repository, ref, "voila/render/notebooks/" + DASHBOARD)
    return (f"[![Binder]({BINDER_IMAGE})]({binder_url(repository, ref, 'lab/tree/notebooks/' + start)}) "
            f"[![Open in Colab]({COLAB_IMAGE})]({colab_url(repository, ref, start)}) "
            f"[![Voila]({VOILA_IMAGE})]({voila})")


def install_block(repository: str, ref: str, notebook: str) -> str:
    """The start of a notebook's first code cell: import the kit, or install it first (on Colab)."""
    extras, packages = NEEDS.get(notebook, ("", ""))
    return ("try:\n"
            "    import colearn_nb\n"
            "except ImportError:  # the kit is not installed (on Colab): install it from its repository\n"
            "    import importlib.metadata\n"
            "    import os\n"
            "    before = [(found.metadata['Name'], found.version)\n"
            "              for found in importlib.metadata.distributions()]  # versions before installing\n"
            f'    source = os.environ.get("COLEARN_NB_INSTALL_SOURCE", "{install_url(repository, ref)}")\n'
            f'    %pip install -q "colearn_nb{extras} @ {{source}}"{packages}\n'
            "    import colearn_nb\n"
            "    colearn_nb.check_imported_versions(before)  # says to restart if pip changed one in use\n")


def without_install_block(code: str) -> str:
    """A first code cell without its install block and without a line of its own ``import colearn_nb``."""
    lines = code.split("\n")
    if lines[:2] == ["try:", "    import colearn_nb"]:
        index = 2
        while index < len(lines) and lines[index].startswith((" ", "except")):
            index += 1
        lines = lines[index:]
    while "import colearn_nb" in lines:
        index = lines.index("import colearn_nb")
        blank_around = 0 < index < len(lines) - 1 and not lines[index - 1] and not lines[index + 1]
        del lines[index:index + 1 + blank_around]
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def with_badges(markdown: str, badges: str) -> str:
    """A notebook's first markdown cell with ``badges`` as the line under its title, replacing old ones."""
    title, *rest = [line for line in markdown.split("\n") if not BADGE_LINE.match(line)]
    while rest and not rest[0].strip():
        rest.pop(0)
    return "\n".join([title, "", badges, "", *rest])


def render_notebook(text: str, repository: str, ref: str, notebook: str) -> str:
    """The notebook file ``text`` with its badges and install block for ``repository`` at ``ref``."""
    content = json.loads(text)
    markdown = next(cell for cell in content["cells"] if cell["cell_type"] == "markdown")
    code = next(cell for cell in content["cells"] if cell["cell_type"] == "code")
    title = "".join(markdown["source"])
    if not title.startswith("# "):
        raise ValueError(f"{notebook}: got a first markdown cell starting {title[:30]!r}; "
                         "expected the notebook's '# ' title")
    markdown["source"] = with_badges(title, notebook_badges(repository, ref, notebook)).splitlines(True)
    cell = install_block(repository, ref, notebook) + "\n" + without_install_block("".join(code["source"]))
    code["source"] = cell.splitlines(True)
    return json.dumps(content, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def render_readme(text: str, repository: str, ref: str) -> str:
    """README.md's ``text`` with its one badge line for ``repository`` at ``ref``."""
    lines = text.split("\n")
    found = [index for index, line in enumerate(lines) if BADGE_LINE.match(line)]
    if len(found) != 1:
        raise ValueError(f"README.md: got {len(found)} badge lines; expected 1 ([![Binder](...)](https://mybinder.org/...)")
    lines[found[0]] = readme_badges(repository, ref)
    return "\n".join(lines)


def notebooks(root: Path) -> list[Path]:
    """The notebooks under ``root``, in order."""
    return sorted((root / "notebooks").glob("*.ipynb"))


def rendered(root: Path, repository: str, ref: str) -> dict[Path, tuple[str, str]]:
    """``{path: (text now, text with every badge for repository at ref)}`` for the README and notebooks."""
    readme = root / "README.md"
    texts = {readme: readme.read_text(encoding="utf-8")}
    texts.update({path: path.read_text(encoding="utf-8") for path in notebooks(root)})
    return {path: (text, render_readme(text, repository, ref) if path == readme
                   else render_notebook(text, repository, ref, path.name)) for path, text in texts.items()}


def linked_repositories(text: str) -> list[tuple[str, str, str]]:
    """``(link, repository, ref)`` for every Colab, Binder and pip-from-GitHub link in ``text``.

    >>> linked_repositories("see https://mybinder.org/v2/gh/a/b/v1%2Fx?urlpath=lab")
    [('mybinder.org/v2/gh/a/b/v1%2Fx', 'a/b', 'v1/x')]
    """
    found = []
    for match in LINKS.finditer(text):
        pairs = zip(match.groups()[::2], match.groups()[1::2], strict=True)
        repository, ref = next((repository, ref) for repository, ref in pairs if repository)
        found.append((match.group(0), repository, unquote(ref or "HEAD")))
    return found


def problems(root: Path = ROOT) -> list[str]:
    """What disagrees with ``scripts/repository.txt``: stale badges or install cells, links elsewhere."""
    repository, ref = read_place(root)
    found = [f"{path.relative_to(root)}: badges or install cell differ from {PLACE} "
             "(run scripts/set_badges.py)" for path, (now, wanted) in rendered(root, repository, ref).items()
             if now != wanted]
    for path in [root / "README.md", root / "notebooks" / "README.md", *notebooks(root)]:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if path.suffix == ".ipynb":
            text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        found += [f"{path.relative_to(root)}: {link} points at {got} @ {got_ref}; "
                  f"{PLACE} says {repository} @ {ref}"
                  for link, got, got_ref in linked_repositories(text) if (got, got_ref) != (repository, ref)]
    return found


def set_badges(root: Path, repository: str, ref: str) -> list[Path]:
    """Record ``repository`` and ``ref``, rewrite every badge and install cell; return the files changed."""
    texts = rendered(root, check_repository(repository), check_ref(ref))  # every check before any write
    changed = [path for path, (now, wanted) in texts.items() if now != wanted]
    for path in changed:
        path.write_text(texts[path][1], encoding="utf-8")
    write_place(root, repository, ref)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: ``set_badges.py [OWNER/REPO] [--ref REF] [--check] [--root DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repository", nargs="?", help=f"OWNER/REPO on GitHub (default: the one in {PLACE})")
    parser.add_argument("--ref", help=f"branch, tag or commit (default: the one in {PLACE})")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; list what disagrees, exit status 1 if anything does")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository's folder (default: this one)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            found = problems(args.root)
            print("\n".join(found) or f"every badge points at {' @ '.join(read_place(args.root))}")
            return 1 if found else 0
        repository, ref = read_place(args.root)
        changed = set_badges(args.root, args.repository or repository, args.ref or ref)
    except ValueError as error:
        print(f"set_badges.py: {error}", file=sys.stderr)
        return 2
    print(f"{args.repository or repository} @ {args.ref or ref}: {len(changed)} files rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
