"""``python -m colearn_nb.classroom host|join``: a class of laptops in two commands (flower/classroom/);
``python -m colearn_nb host|join`` is the same, shorter to type.

    python -m colearn_nb host --learners 3 --rounds 10            # the teacher; prints the join line
    python -m colearn_nb join 192.168.1.20 K7Q2-PX9M-3F2A-9C4B-7E5D   # each laptop: the join line
"""
from __future__ import annotations

if __name__ == "__main__":
    from colearn_nb.flower.classroom.cli import main

    main()
