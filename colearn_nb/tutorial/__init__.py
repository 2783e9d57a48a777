"""The tutorial's workload: shipped MNIST digits, the Net, its learners, the baseline, the fair comparison.

Imports ``protocol`` and ``pytorch``.

Taught in notebooks 01 to 05 and 11.
"""
