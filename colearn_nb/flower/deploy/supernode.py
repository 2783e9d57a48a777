"""Flower's SuperNode (``flower-supernode``), asking the SuperLink for messages every ``POLL_S`` when idle.

Flower 1.42's SuperNode sleeps 3 s after every pull that brought no message (the loop of
``flwr.supernode.start_client_internal``), so a laptop sees each step of a round 1.5 s late on average and
up to 3 s: of a round's 8 s on this machine (3 laptops, quiet), 7 s were messaging and 1 s compute. This
runs the same SuperNode, same options, with that one idle sleep shortened to ``POLL_S``; everything else
is Flower's. ``LoopbackFederation.start_supernode`` (the class's laptops too) starts it.

    python -m colearn_nb.flower.deploy.supernode --superlink 127.0.0.1:9092 ...   # flower-supernode's options
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any

logger = logging.getLogger(__name__)
POLL_S = 0.5  # seconds between pulls when idle: 2 requests a second per laptop, 60 for a room of 30
FLOWER_IDLE_S = 3  # Flower's own idle sleep, the one replaced


class QuickerIdle:
    """The ``time`` module as Flower's SuperNode loop sees it: its idle sleep of 3 s is ``POLL_S``.

    >>> QuickerIdle().monotonic() > 0
    True
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        """Sleep ``POLL_S`` for Flower's idle 3 s; any other time as asked."""
        time.sleep(POLL_S if seconds == FLOWER_IDLE_S else seconds)


def poll_quicker() -> bool:
    """Shorten the SuperNode loop's idle sleep; False (Flower's 3 s kept, a warning) if its loop changed."""
    from flwr.supernode import start_client_internal as loop

    if isinstance(getattr(loop, "time", None), QuickerIdle):
        return True
    if getattr(loop, "time", None) is not time:
        logger.warning("flwr.supernode.start_client_internal has no 'time' module to patch: polling every "
                       "%d s, Flower's own", FLOWER_IDLE_S)
        return False
    loop.time = QuickerIdle()  # type: ignore[assignment]
    return True


def main() -> None:
    """``flower-supernode`` with the shorter idle poll, its options from the command line."""
    from flwr.supernode.cli import flower_supernode

    poll_quicker()
    sys.argv[0] = "flower-supernode"
    flower_supernode()


if __name__ == "__main__":
    main()
