"""First-party edge-agent plugins, installed as ``edge_agent_plugins``.

They are written only against the public API in :mod:`edge_agent` and load
through the ``edge_agent.plugins`` entry-point group, like any third-party
plugin.
"""
