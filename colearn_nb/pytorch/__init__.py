"""The protocol for PyTorch: ``PytorchLearner``, loaders and splitting, metrics,
privacy, attacks, checkpoints, seeding.

Imports ``protocol`` only.

Taught in notebooks 02 to 04, 08 to 10.
"""
