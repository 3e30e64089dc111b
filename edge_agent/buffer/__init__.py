"""The buffer between plugins and the exporter."""
