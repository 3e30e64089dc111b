"""Live credential rotation: good files are swapped in, bad ones refused, the old set kept."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
import trio

from edge_agent.tls.config import TlsClientConfig
from edge_agent.tls.material import load_client_material
from edge_agent.tls.store import TlsCredentials
from tests.tlshelpers import make_pki
from tools import pkilib
from tools.pkilib import DevPki


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return make_pki(tmp_path / "pki")


def _store(pki: DevPki, **kw: object) -> TlsCredentials:
    files = pki.client_paths("device-1")
    config = TlsClientConfig(
        ca_file=str(pki.ca_file),
        cert_file=str(files.cert),
        key_file=str(files.key),
        **kw,  # type: ignore[arg-type]
    )
    return TlsCredentials(load_client_material(config, {}), environ={})


async def test_rotated_files_are_swapped_in(pki: DevPki) -> None:
    """New valid files replace the material and bump the generation; unchanged files do nothing."""
    store = _store(pki)
    assert not await store.reload_if_changed()
    files = pki.client_paths("device-1")
    pkilib.make_client(pki.ca, "device-1-renewed").write(files.cert, files.key)
    assert await store.reload_if_changed()
    assert store.generation == 2
    assert store.current.client_cert is not None
    assert store.current.client_cert.subject_cn == "device-1-renewed"
    assert not await store.reload_if_changed()


async def test_bad_pair_is_refused_and_old_kept(pki: DevPki, caplog: pytest.LogCaptureFixture) -> None:
    """A new cert whose key has not been written yet is refused once; the old material stays."""
    store = _store(pki)
    old = store.current
    files = pki.client_paths("device-1")
    renewed = pkilib.make_client(pki.ca, "device-1-renewed")
    pkilib.write_file(files.cert, renewed.cert_pem, 0o644)  # the key follows later
    with caplog.at_level(logging.ERROR, logger="edge_agent.tls"):
        assert not await store.reload_if_changed()
        assert not await store.reload_if_changed()  # same files: not retried, not logged again
    assert store.current is old and store.generation == 1
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1
    assert "do not belong together" in (store.last_refusal or "")
    pkilib.write_file(files.key, renewed.key_pem, 0o600)
    assert await store.reload_if_changed()
    assert store.current.client_cert is not None
    assert store.current.client_cert.subject_cn == "device-1-renewed"
    assert store.status()["last_refusal"] is not None


async def test_expired_replacement_is_refused(pki: DevPki) -> None:
    """Rotating to an already expired certificate is refused with its validity dates."""
    store = _store(pki)
    files = pki.client_paths("device-1")
    pkilib.expired(pki.ca, "stale").write(files.cert, files.key)
    assert not await store.reload_if_changed()
    assert "has expired" in (store.last_refusal or "")
    assert store.generation == 1


async def _settle() -> None:
    """Let worker threads (stat, file loads) finish while the mock clock stands still."""
    for _ in range(10):
        await trio.to_thread.run_sync(time.sleep, 0.01)
        await trio.testing.wait_all_tasks_blocked()


async def test_watch_polls_on_the_trio_clock(pki: DevPki, mock_clock: trio.testing.MockClock) -> None:
    """The watcher looks at the files every reload_interval of trio time, not before."""
    store = _store(pki)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.watch, 30.0)
        files = pki.client_paths("device-1")
        pkilib.make_client(pki.ca, "next").write(files.cert, files.key)
        mock_clock.jump(29.9)
        await _settle()
        assert store.generation == 1
        mock_clock.jump(0.1)
        await _settle()
        assert store.generation == 2
        nursery.cancel_scope.cancel()


def test_expiry_warning_window(pki: DevPki, tmp_path: Path) -> None:
    """A client cert expiring within cert_expiry_warning yields a warning sentence; later ones none."""
    short = pki.add_client("short", days=3)
    config = TlsClientConfig(ca_file=str(pki.ca_file), cert_file=str(short.cert), key_file=str(short.key))
    store = TlsCredentials(load_client_material(config, {}), environ={})
    warning = store.expiry_warning(14 * 86400)
    assert warning is not None and "expires in 3.0 days" in warning
    assert store.expiry_warning(86400) is None
    late = TlsCredentials(
        load_client_material(config, {}), environ={}, wall_clock=lambda: time.time() + 4 * 86400
    )
    assert "has expired" in (late.expiry_warning(86400) or "")
    os.chmod(short.key, 0o600)
