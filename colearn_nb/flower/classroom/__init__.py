"""A room of laptops as one collective-learning class, on Flower: the teacher hosts, each laptop joins.

    python -m colearn_nb.classroom host --learners 3 --rounds 10     # the teacher: prints the join line
    python -m colearn_nb.classroom join HOST:PORT --code CODE --ca-sha256 FINGERPRINT   # each laptop

``ClassHost`` (host.py) and ``Participant`` (participant.py) are the two sides; gateway.py is the one port
the room reaches; cli.py the commands (``colearn_nb/classroom.py`` runs it). Needs the Flower extra
(``pip install -e ".[flower]"``). Taught in notebook 12.
"""
from __future__ import annotations

from .host import ClassHost, certificate_fingerprint, new_join_code, room_address
from .participant import JoinError, Participant

__all__ = ["ClassHost", "JoinError", "Participant", "certificate_fingerprint", "new_join_code",
           "room_address"]
