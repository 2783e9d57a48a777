"""A room of laptops as one collective-learning class, on Flower: the teacher hosts, each laptop joins.

    python -m colearn_nb host --learners 3 --rounds 10      # the teacher: prints the join line
    python -m colearn_nb join HOST TOKEN                    # each laptop: the join line

``ClassHost`` (host.py) and ``Participant`` (participant.py) are the two sides; rehearsal.py's ``PretendRoom``
makes pretend laptops for a rehearsal on one machine; gateway.py is the one port
the room reaches; cli.py the commands (``python -m colearn_nb``, or ``python -m colearn_nb.classroom``).
Needs the Flower extra (``pip install -e ".[flower]"``). Taught in notebook 12.
"""
from __future__ import annotations

from .host import (
    CODE_LETTERS,
    FINGERPRINT_LETTERS,
    ClassHost,
    certificate_fingerprint,
    join_token,
    new_join_code,
    room_address,
    short_fingerprint,
    split_token,
)
from .participant import JoinError, Participant
from .rehearsal import PretendLaptop, PretendRoom

__all__ = ["CODE_LETTERS", "FINGERPRINT_LETTERS", "ClassHost", "JoinError", "Participant", "PretendLaptop",
           "PretendRoom",
           "certificate_fingerprint", "join_token", "new_join_code", "room_address", "short_fingerprint",
           "split_token"]
