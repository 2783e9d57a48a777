"""The protocol for PyTorch: the learner, loaders and splitting, metrics, privacy, attacks, checkpoints.

Imports ``protocol`` only.

Taught in notebooks 02 to 04, 08 to 10.
"""
