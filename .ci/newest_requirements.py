"""Print requirements-dev.txt (with the files it includes) with every version pin lifted, one package a line.

CI's second job installs this list into a fresh venv to test the kit on the newest releases:
``python .ci/newest_requirements.py > newest.txt && PIP_CONSTRAINT=/dev/null pip install -r newest.txt -e .``

>>> unpinned("flwr[simulation]==1.42.0  # a comment")
'flwr[simulation]'
>>> unpinned("numpy>=1.26")
'numpy'
>>> unpinned("# only a comment") is None
True
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9_,. -]+\])?")


def unpinned(line: str) -> str | None:
    """The package a requirements line names, extras kept and version dropped; ``None`` for no package."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    match = NAME.match(text)
    if match is None:
        raise ValueError(f"requirements line: got {line!r}; expected NAME[extras] with an optional version")
    return match.group(0).replace(" ", "")


def packages(path: Path) -> list[str]:
    """Every package ``path`` names, following ``-r other.txt`` lines, in order, without pins."""
    found: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("-r "):
            found += packages(path.parent / line.strip()[3:].strip())
        elif (package := unpinned(line)) is not None:
            found.append(package)
    return found


if __name__ == "__main__":
    print("\n".join(packages(ROOT / (sys.argv[1] if len(sys.argv) > 1 else "requirements-dev.txt"))))
