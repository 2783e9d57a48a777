"""``python -m colearn_nb host|join``: the classroom's two commands, as the join line spells them.

    python -m colearn_nb host --learners 3 --rounds 10            # the teacher; prints the join line
    python -m colearn_nb join 192.168.1.20 K7Q2-PX9M-3F2A-9C4B-7E5D   # each laptop: the join line

The same as ``python -m colearn_nb.classroom`` (colearn_nb/flower/classroom/cli.py); needs the Flower extra.
"""
from __future__ import annotations

if __name__ == "__main__":
    from colearn_nb.flower.classroom.cli import main

    main()
