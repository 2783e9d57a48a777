"""After a notebook's first cell installs packages: stop with one line when this Python must be restarted.

A running Python keeps the modules it has imported. When pip then installs another version of one of them
(on Colab: installing Flower moves ``packaging``, which the kernel had imported), the old modules and the
new files mix, and a later import fails with an ``ImportError`` far from its cause. The first cell records
the versions before installing and calls ``check_imported_versions`` after. Standard library only, so that
it runs whatever pip changed.
"""
from __future__ import annotations

import importlib.metadata
import re
import sys
from collections.abc import Iterable

RESTART = ("Restart the runtime (Colab: Runtime > Restart session; Jupyter: Kernel > Restart), then run this "
           "notebook again: installing changed {changes}, already imported by this Python.")


class RestartNeeded(RuntimeError):
    """pip changed a package this Python had already imported; shown in a notebook as its one-line message."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the message alone."""
        return [str(self)]


def canonical(name: str) -> str:
    """A distribution's name as pip compares names.

    >>> canonical("Typing_Extensions")
    'typing-extensions'
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def first_versions(pairs: Iterable[tuple[str | None, str]]) -> dict[str, str]:
    """``{name: version}`` from ``(name, version)`` pairs in ``sys.path`` order; the first of a name counts.

    >>> first_versions([("packaging", "21.3"), ("Packaging", "25.0"), (None, "1")])
    {'packaging': '21.3'}
    """
    found: dict[str, str] = {}
    for name, version in pairs:
        if name:
            found.setdefault(canonical(name), version)
    return found


def installed_versions() -> list[tuple[str | None, str]]:
    """``(name, version)`` of every installed distribution, in ``sys.path`` order."""
    return [(package.metadata["Name"], package.version) for package in importlib.metadata.distributions()]


def imported_distributions() -> set[str]:
    """The distributions (canonical names) that provide a top-level module this Python has imported."""
    return {canonical(name) for module, names in importlib.metadata.packages_distributions().items()
            if module in sys.modules for name in names}


def changed_imports(before: Iterable[tuple[str | None, str]]) -> dict[str, tuple[str, str]]:
    """``{name: (version before, version now)}`` for imported distributions whose version changed since then.

    >>> changed_imports(installed_versions())
    {}
    """
    was, now = first_versions(before), first_versions(installed_versions())
    return {name: (was[name], now.get(name, "removed")) for name in sorted(imported_distributions())
            if name in was and now.get(name) != was[name]}


def check_imported_versions(before: Iterable[tuple[str | None, str]]) -> None:
    """Raise ``RestartNeeded`` when a package imported before ``before`` was recorded now has another version.

    ``before``: ``(name, version)`` pairs recorded before installing (``installed_versions()``, or the first
    cell's own list when the kit was not installed yet).

    >>> check_imported_versions(installed_versions())  # nothing installed since: nothing to do
    >>> import matplotlib  # a package this Python has imported, recorded at another version:
    >>> check_imported_versions([("matplotlib", "0.1")])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    colearn_nb.viz.restart.RestartNeeded: Restart the runtime ...: installing changed matplotlib 0.1 -> ...
    """
    changes = changed_imports(before)
    if changes:
        listed = ", ".join(f"{name} {old} -> {new}" for name, (old, new) in changes.items())
        raise RestartNeeded(RESTART.format(changes=listed))
