"""``python -m colearn_nb.classroom host|join``: a class of laptops in two commands (flower/classroom/).

    python -m colearn_nb.classroom host --learners 3 --rounds 10      # the teacher; prints the join line
    python -m colearn_nb.classroom join HOST:PORT --code CODE --ca-sha256 FINGERPRINT   # each laptop
"""
from __future__ import annotations

if __name__ == "__main__":
    from colearn_nb.flower.classroom.cli import main

    main()
