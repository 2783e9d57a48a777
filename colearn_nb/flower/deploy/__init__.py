"""Deploying the Flower app: TLS files and node keys, a long-lived ClientApp worker, a loopback federation.

Taught in notebook 12 (its deployment recipe).
"""
