"""TLS client stack: settings, credential loading and live rotation, handshakes, error translation.

Shared by the exporter and (later) the fleet client; see store.py for the rotation API.
"""
