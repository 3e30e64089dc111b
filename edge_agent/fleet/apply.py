"""Applying a pushed config: verify, validate, stage, apply live, health window, commit or roll back.

Theory of operation (one offer at a time; statuses are what the server sees):

1. **APPLYING** is reported at once.
2. In a worker thread: the config map must hold ``agent.toml`` and
   ``agent.toml.sig``; the signature must verify with the local
   ``fleet.public_key_file`` (:mod:`.signing`); its signed version must be
   newer than the running remote config's (replay protection; the same
   version with the same bytes is simply APPLIED again); the config must
   obey the layering rules (:mod:`.layering`) and load and validate like
   any config, as the fleet layer between the main file and ``conf.d``.
   Any failure: **FAILED** with the reason, nothing touched.
3. The record is staged durably (:mod:`.staging`), then applied with
   :meth:`Agent.reconfigure` (the same path as SIGHUP: validated before
   anything is touched, undone on a failure part-way, nothing buffered lost).
4. The health window (``fleet.health_window``) watches the pipeline
   (:class:`~.health.HealthWindow`). If it fails, the previous config is
   applied again through ``reconfigure`` (same guarantees) and the result
   is **FAILED** "rolled back ...".
5. Otherwise the record is committed as last-known-good (one atomic
   rename): **APPLIED**.

A hash that ended FAILED is remembered (also across restarts) and not
tried again: the server must push a new config (new version) to retry.
An orderly stop during the health window drops the staged copy (the config
was never judged): after the restart the committed config runs and the
server's next offer is applied afresh. Only a crash leaves the staged copy
behind, and that is what :mod:`.staging` treats as an interrupted apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from edge_agent.config.load import LoadedConfig, PluginTypesFactory
from edge_agent.config.sources import Tree
from edge_agent.errors import ConfigError, EdgeAgentError, PluginError, ReconfigureError
from edge_agent.fleet import messages as m
from edge_agent.fleet.config import FleetConfig
from edge_agent.fleet.health import HealthWindow, snapshot
from edge_agent.fleet.layering import check_unchanged_local_keys, remote_layer
from edge_agent.fleet.protocol import RemoteConfigOffer
from edge_agent.fleet.signing import CONFIG_NAME, SIGNATURE_NAME, SignatureError, verify_config
from edge_agent.fleet.staging import ConfigRecord, ConfigStore

log = logging.getLogger("edge_agent.fleet")

Loader = Callable[[tuple[Tree, str] | None, PluginTypesFactory], LoadedConfig]
HEALTH_CHECK_EVERY = 1.0


class RemoteConfigRefused(EdgeAgentError):
    """A pushed config was refused before anything was changed."""


@dataclass
class ApplyStatus:
    """The RemoteConfigStatus the agent reports."""

    config_hash: bytes = b""
    status: int = m.STATUS_UNSET
    error: str = ""

    def message(self) -> m.RemoteConfigStatus:
        """Always reported (even UNSET with no hash): a server that remembers an apply this agent
        never finished (it was stopped mid-way) sees the hash differ and offers the config again."""
        return m.RemoteConfigStatus(
            last_remote_config_hash=self.config_hash,
            status=self.status,  # type: ignore[arg-type]
            error_message=self.error,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "config_hash": self.config_hash.hex(),
            "status": m.STATUS_NAMES[self.status],
            "error": self.error,
        }


def layer_of(record: ConfigRecord, fleet: FleetConfig) -> tuple[Tree, str]:
    """The config layer of a verified record (raises ConfigError if it breaks a layering rule)."""
    try:
        text = record.config.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{CONFIG_NAME} is not UTF-8 text: {exc}", origin=record.label) from None
    return remote_layer(
        text, record.label, denied_plugin_types=fleet.remote_denied_plugin_types
    ), record.label


def _read_public_key(fleet: FleetConfig) -> bytes:
    if not fleet.public_key_file:
        raise RemoteConfigRefused(
            "this device has no fleet.public_key_file, so it accepts no remote configs "
            "(install the fleet's Ed25519 public key and set fleet.public_key_file)"
        )
    try:
        return Path(fleet.public_key_file).read_bytes()
    except OSError as exc:
        raise RemoteConfigRefused(
            f"cannot read fleet.public_key_file {fleet.public_key_file}: {exc.strerror or exc}"
        ) from None


class RemoteConfigManager:
    def __init__(
        self,
        agent: Any,
        *,
        fleet: FleetConfig,
        store: ConfigStore,
        loader: Loader,
        running: ConfigRecord | None,
        loaded: LoadedConfig,
        on_change: Callable[[], None],
    ) -> None:
        self.agent = agent
        self.fleet = fleet
        self.store = store
        self.loader = loader
        self.running = running  # the committed remote record (None: local config only)
        self.in_effect = running  # what the agent runs now: the applied record during a health window
        self.loaded = loaded  # what runs, with provenance (for the effective config)
        self.status = ApplyStatus(running.config_hash, m.STATUS_APPLIED) if running else ApplyStatus()
        self.applied = 0
        self.failed = 0
        self._on_change = on_change

    def _set(self, config_hash: bytes, status: int, error: str = "") -> None:
        self.status = ApplyStatus(config_hash, status, error)
        self._on_change()

    async def apply(self, offer: RemoteConfigOffer) -> ApplyStatus:
        """Take one offer through the whole sequence; returns the final status."""
        self._set(offer.config_hash, m.STATUS_APPLYING)
        try:
            record, loaded = await trio.to_thread.run_sync(self._verify_and_load, offer)
        except (EdgeAgentError, OSError) as exc:
            return self._fail(offer.config_hash, f"refused: {exc}")
        if self.running is not None and (record.version, record.sha256) == (
            self.running.version,
            self.running.sha256,
        ):
            log.info("fleet: %s is already running", record.label)
            self.running = self.in_effect = record
            self._set(offer.config_hash, m.STATUS_APPLIED)
            return self.status
        return await self._apply_verified(record, loaded)

    async def _apply_verified(self, record: ConfigRecord, loaded: LoadedConfig) -> ApplyStatus:
        await trio.to_thread.run_sync(self.store.stage, record)
        log.info("fleet: staged %s; applying it", record.label)
        before = snapshot(self.agent)
        try:
            plan = await self.agent.reconfigure(loaded)
        except (ConfigError, PluginError) as exc:
            await trio.to_thread.run_sync(self.store.discard_staged)
            return self._fail(record.config_hash, f"refused: {exc}")
        except ReconfigureError as exc:
            await trio.to_thread.run_sync(self.store.discard_staged)
            return self._fail(record.config_hash, str(exc))
        self.in_effect = record
        log.info(
            "fleet: applied %s (%s); health window %gs",
            record.label,
            plan.describe(),
            self.fleet.health_window,
        )
        try:
            reason = await self._health_window(
                HealthWindow(before, (*plan.start, *plan.restart), plan.replace_exporter)
            )
        except trio.Cancelled:
            # an orderly stop (not a crash) during the window: the config was not judged, so it is
            # not remembered as interrupted; the next start runs the committed one and the server
            # offers this one again
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self.store.discard_staged)
            raise
        if reason is not None:
            self.in_effect = self.running
            rollback = await self._roll_back()
            await trio.to_thread.run_sync(self.store.discard_staged)
            return self._fail(
                record.config_hash, f"rolled back after the health check failed: {reason}{rollback}"
            )
        await trio.to_thread.run_sync(self.store.commit, record)
        self.running, self.loaded = record, loaded
        self.applied += 1
        log.info("fleet: %s is now the last-known-good config", record.label)
        self._set(record.config_hash, m.STATUS_APPLIED)
        return self.status

    def _fail(self, config_hash: bytes, reason: str) -> ApplyStatus:
        self.failed += 1
        log.error("fleet: remote config %s FAILED: %s", config_hash.hex()[:12], reason)
        self._set(config_hash, m.STATUS_FAILED, reason)
        return self.status

    def _verify_and_load(self, offer: RemoteConfigOffer) -> tuple[ConfigRecord, LoadedConfig]:
        """Blocking: signature, replay protection, layering rules, full validation."""
        missing = [n for n in (CONFIG_NAME, SIGNATURE_NAME) if n not in offer.files]
        if missing:
            got = ", ".join(sorted(offer.files)) or "nothing"
            raise RemoteConfigRefused(
                f"the config map must hold {CONFIG_NAME} and {SIGNATURE_NAME}; it holds {got}"
            )
        config, signature = offer.files[CONFIG_NAME][0], offer.files[SIGNATURE_NAME][0]
        try:
            info = verify_config(_read_public_key(self.fleet), config, signature)
        except SignatureError as exc:
            raise RemoteConfigRefused(f"bad signature: {exc}") from None
        current = self.running
        if current is not None and info.version < current.version:
            raise RemoteConfigRefused(
                f"its signed version {info.version} is older than the running config's {current.version} "
                "(a replayed or out-of-order config)"
            )
        if current is not None and info.version == current.version and info.config_sha256 != current.sha256:
            raise RemoteConfigRefused(
                f"version {info.version} is already taken by the running config, with other content"
            )
        record = ConfigRecord(config, signature, offer.config_hash, info.version, info.issued_at)
        loaded = self.loader(layer_of(record, self.fleet), self.agent.plugin_types)
        local = self.loader(None, self.agent.plugin_types)  # e.g. a pushed profile must not set [fleet]
        check_unchanged_local_keys(loaded.config, local.config, record.label)
        return record, loaded

    async def _health_window(self, window: HealthWindow) -> str | None:
        deadline = trio.current_time() + self.fleet.health_window
        while (left := deadline - trio.current_time()) > 0:
            await trio.sleep(min(HEALTH_CHECK_EVERY, left))
            reason = window.check(snapshot(self.agent))
            if reason is not None:
                return reason
        return window.verdict(snapshot(self.agent))

    async def _roll_back(self) -> str:
        """Apply the previous config again; returns "" or a note on what went wrong."""
        previous = self.running.label if self.running else "the local config"
        try:
            await self.agent.reconfigure(self.loaded)
        except EdgeAgentError as exc:
            log.critical("fleet: rolling back to %s failed: %s", previous, exc)
            return f"; rolling back to {previous} failed too ({exc}): restart the agent to run it"
        log.warning("fleet: rolled back to %s", previous)
        return f"; running {previous} again"

    def layer(self) -> tuple[Tree, str] | None:
        """The fleet layer a SIGHUP reload must load (the config in effect right now)."""
        return layer_of(self.in_effect, self.fleet) if self.in_effect is not None else None

    def note_reload(self, loaded: LoadedConfig) -> None:
        """A SIGHUP reload applied ``loaded`` (local files changed): report it as the effective config."""
        self.loaded = loaded
        self._on_change()
