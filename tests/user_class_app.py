"""A user's own ClientApp for a class of laptops: ``--app user_class_app:client_app`` on host and join.

The learners are tests/user_learners.py's ``mlp_adam``: the user's MLP and Adam on plain ``DataLoader``s
(``random_split``, ``shuffle=True`` without a generator); learner ``partition_id`` built alone.
"""
from user_learners import Factory

from colearn_nb.flower import make_client_app

client_app = make_client_app(Factory("mlp_adam"))
