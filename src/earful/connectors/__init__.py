"""Connectors: one module per network behind :mod:`earful.connectors.base`."""
