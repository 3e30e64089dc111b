"""Shared fixtures. Peer binaries are looked up here; see tests/peers.py."""

from __future__ import annotations
