"""Running as a systemd service: the ``[service]`` config section, the unit file
template and ``edge-agent install-service``."""
