"""Generated OpAMP messages (tools/gen_opamp.py); import them from edge_agent.fleet.messages."""
