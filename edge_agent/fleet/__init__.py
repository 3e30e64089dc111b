"""Fleet management: the OpAMP client, signed remote configs with rollback, certificate rotation.

See ``docs/fleet.md``. Nothing here is imported unless ``[fleet] enabled = true``.
"""
