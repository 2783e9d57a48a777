"""The protocol of collective learning, with the standard library only:
interface, round, loop, results (data, JSON, report), checks.

Importing it loads neither torch nor matplotlib (a test checks ``sys.modules``).

Taught in notebooks 04 to 06.
"""
