"""Device-class profiles (TOML), installed as ``edge_agent_profiles``.

Select one with ``profile = "<name>"`` in the main config file; its values
sit between the embedded defaults and the main file.
"""
