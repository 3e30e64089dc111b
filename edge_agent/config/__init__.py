"""Typed, layered configuration (see :mod:`edge_agent.config.load`)."""
