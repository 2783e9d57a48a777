"""The protocol for PyTorch: ``PytorchLearner``, loaders and splitting, metrics, privacy, attacks, checkpoints, seeding.

Imports ``protocol`` only.
"""
