"""Live TLS credentials: the current :class:`TlsMaterial`, rotated without a restart.

Theory of operation. :class:`TlsCredentials` holds one immutable
:class:`~edge_agent.tls.material.TlsMaterial` and a ``generation`` number.
Connections are opened with ``current``; swapping in new material is one
assignment, so every new connection sees either the old or the new set,
never a mix. The exporter's pool retires idle connections of an older
generation.

:meth:`TlsCredentials.watch` polls the files' stamps (inode, size, mtime)
every ``reload_interval`` on trio's clock. On a change it loads the files
again in a worker thread and validates the result (pair matches, client
certificate currently valid). Good material is swapped in; bad material is
refused with one error log line and the old material stays in use. A
refused set of stamps is remembered, so a half-written rotation is retried
as soon as any file changes again, and not logged again until then.

Other components (the fleet client) rotate programmatically: load a
candidate with :func:`~edge_agent.tls.material.load_client_material` (in a
thread), test it with :func:`edge_agent.tls.connect.probe`, then
:meth:`TlsCredentials.swap` it in; the watcher follows the new files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import trio

from edge_agent.errors import ConfigError
from edge_agent.tls.files import FileStamp, stamps
from edge_agent.tls.material import TlsMaterial, load_client_material

log = logging.getLogger("edge_agent.tls")

_EXPIRY_LOG_EVERY = 86400.0


class TlsCredentials:
    def __init__(
        self,
        material: TlsMaterial,
        *,
        environ: Mapping[str, str],
        prefix: str = "exporter.tls",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.current = material
        self.generation = 1
        self.prefix = prefix
        self.reloads = 0
        self.refusals = 0
        self.last_refusal: str | None = None
        self.last_refusal_unix: float | None = None
        self._environ = environ
        self._wall_clock = wall_clock
        self._refused_stamps: tuple[FileStamp, ...] | None = None
        self._last_expiry_log: float | None = None

    # -- swapping ----------------------------------------------------------

    def check_candidate(self, material: TlsMaterial) -> None:
        """Raise :class:`ConfigError` if ``material`` must not replace the current one."""
        cert = material.client_cert
        now = self._wall_clock()
        if cert is not None and not cert.is_valid_at(now):
            state = "has expired" if now > cert.not_after else "is not valid yet"
            raise ConfigError(
                f"the client certificate {cert.subject_cn or '(no CN)'} {state} "
                f"(valid {time.strftime('%Y-%m-%d %H:%M', time.gmtime(cert.not_before))} to "
                f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(cert.not_after))} UTC)",
                key=f"{self.prefix}.cert_file",
            )

    def swap(self, material: TlsMaterial) -> None:
        """Make ``material`` current for every connection opened from now on."""
        self.current = material
        self.generation += 1
        self.reloads += 1
        self._refused_stamps = None
        self._last_expiry_log = None
        cert = material.client_cert
        who = f"client certificate {cert.subject_cn!r}" if cert else "CA bundle"
        log.info("%s: loaded new %s; new connections use it", self.prefix, who)

    # -- watching ----------------------------------------------------------

    def _changed(self, current: tuple[FileStamp, ...]) -> bool:
        return current not in (self.current.stamps, self._refused_stamps)

    async def reload_if_changed(self) -> bool:
        """Load and swap in the files if they changed; True if new material is in use."""
        files = self.current.files
        if not files:
            return False
        now_stamps = await trio.to_thread.run_sync(stamps, files)
        if not self._changed(now_stamps):
            return False
        try:
            candidate = await trio.to_thread.run_sync(self._load)
            self.check_candidate(candidate)
        except ConfigError as exc:
            self._refuse(now_stamps, str(exc))
            return False
        self.swap(candidate)
        return True

    def _load(self) -> TlsMaterial:
        return load_client_material(self.current.config, self._environ, prefix=self.prefix)

    def _refuse(self, refused: tuple[FileStamp, ...], reason: str) -> None:
        self._refused_stamps = refused
        self.refusals += 1
        self.last_refusal = reason
        self.last_refusal_unix = self._wall_clock()
        log.error(
            "changed TLS files refused, the previous certificate stays in use: %s "
            "(fix the files; they are checked again when they change)",
            reason,
        )

    async def watch(
        self, interval: float, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Poll for changed files every ``interval`` seconds (trio's clock) until cancelled."""
        task_status.started()
        while True:
            self.log_expiry(trio.current_time())
            await trio.sleep(interval)
            await self.reload_if_changed()

    # -- expiry ------------------------------------------------------------

    def expiry_warning(self, warn_within: float) -> str | None:
        """A sentence if the client certificate expires within ``warn_within`` seconds."""
        cert = self.current.client_cert
        if cert is None:
            return None
        left = cert.not_after - self._wall_clock()
        if left <= 0:
            return f"client certificate {cert.subject_cn!r} has expired: rotate {self.prefix}.cert_file"
        if left <= warn_within:
            return (
                f"client certificate {cert.subject_cn!r} expires in {left / 86400:.1f} days: "
                f"rotate {self.prefix}.cert_file"
            )
        return None

    def log_expiry(self, now: float) -> None:
        """Log the expiry warning at most once a day (``now`` on trio's clock)."""
        warning = self.expiry_warning(self.current.config.cert_expiry_warning)
        if warning is None:
            return
        if self._last_expiry_log is None or now - self._last_expiry_log >= _EXPIRY_LOG_EVERY:
            self._last_expiry_log = now
            log.warning("%s", warning)

    def status(self) -> dict[str, Any]:
        return {
            **self.current.describe(self._wall_clock()),
            "generation": self.generation,
            "reloads": self.reloads,
            "refused_reloads": self.refusals,
            "last_refusal": self.last_refusal,
            "last_refusal_unix": self.last_refusal_unix,
            "expiry_warning": self.expiry_warning(self.current.config.cert_expiry_warning),
        }
