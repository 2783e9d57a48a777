"""A guard that ends the process groups a federation started once the federation's own process is gone.

``close`` ends every process group a ``LoopbackFederation`` started; nothing runs ``close`` when its
process is killed outright (SIGKILL, a notebook kernel restarted, a crash). The guard is a small Python
process, in a session of its own, started beside the first process group: it is told each group's id
on a pipe (``+ID`` when started, ``-ID`` when ended), and when the pipe closes (the federation closed, or
its process died however it died) it ends the groups still listed: SIGTERM, then SIGKILL after a few
seconds. Flower's own processes below the SuperLink (SuperExec, the ServerApp) end with it: each watches
its parent's id.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading

GRACE_S = 3.0  # between the guard's SIGTERM and SIGKILL
GUARD_CODE = f"""
import os, signal, sys, time
groups = set()
for line in sys.stdin:
    sign, group = line[:1], int(line[1:])
    groups.add(group) if sign == "+" else groups.discard(group)
for sig, wait_s in ((signal.SIGTERM, {GRACE_S}), (signal.SIGKILL, 2.0)):
    deadline = time.monotonic() + wait_s
    for group in sorted(groups):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            groups.discard(group)
    while groups and time.monotonic() < deadline:
        time.sleep(0.1)
        for group in sorted(groups):
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                groups.discard(group)
"""


class ProcessGuard:
    """Ends the process groups it is told of when this process ends without ending them itself.

    >>> guard = ProcessGuard()
    >>> guard
    ProcessGuard(not started)
    >>> guard.close()
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        state = "not started" if self.process is None else f"pid {self.process.pid}"
        return f"ProcessGuard({state})"

    def _tell(self, line: str) -> None:
        with self.lock:
            if self.process is None:  # started on first use, in a session of its own: no terminal's signals
                self.process = subprocess.Popen([sys.executable, "-I", "-S", "-c", GUARD_CODE],
                                                stdin=subprocess.PIPE, start_new_session=True,
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                os.write(self.process.stdin.fileno(), f"{line}\n".encode())  # type: ignore[union-attr]
            except OSError:  # the guard is gone (killed by someone): nothing to tell it
                pass

    def watch(self, group: int) -> None:
        """Guard the process group ``group`` (end it should this process end first)."""
        self._tell(f"+{group}")

    def forget(self, group: int) -> None:
        """The process group ``group`` has ended: nothing to guard there any more."""
        if self.process is not None:
            self._tell(f"-{group}")

    def close(self, timeout: float = 10.0) -> None:
        """Close the pipe: the guard ends what is still listed, then itself."""
        with self.lock:
            process, self.process = self.process, None
        if process is None:
            return
        process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
