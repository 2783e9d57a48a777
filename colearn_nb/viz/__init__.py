"""What people look at: where figures go, static and live plots, the round diagram, the dashboard.

Imports ``protocol``, ``pytorch`` and ``tutorial``.

Taught in notebooks 00, 05 and 07.
"""
