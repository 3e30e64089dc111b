"""At-rest encryption: AES-256-GCM frames, a key file the agent checks, clear errors for wrong keys."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
import trio.testing

from edge_agent.buffer.crypto import AesGcmSealer, load_key
from edge_agent.buffer.frames import FRAME_HEADER_SIZE
from edge_agent.buffer.segments import SEGMENT_HEADER_SIZE
from edge_agent.errors import ConfigError
from tests.buffer.helpers import (
    drain,
    dropped,
    instruments,
    log_fragment,
    opened,
    record_ids,
    segment_files,
    write,
)


def _key_file(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    """A key file group or others can read is refused, naming the setting and the fix."""
    key = _key_file(tmp_path / "k", os.urandom(32), mode)
    with pytest.raises(ConfigError, match=r"buffer.encryption_key_file: .*chmod 600") as info:
        load_key(key)
    assert oct(mode)[2:] in str(info.value)


@pytest.mark.parametrize("content", [b"short", os.urandom(31), b"zz" * 32])
def test_malformed_key_is_refused(tmp_path: Path, content: bytes) -> None:
    """Anything but 32 raw bytes or 64 hex digits is refused with how to make a key."""
    with pytest.raises(ConfigError, match="32 raw bytes or 64 hex digits"):
        load_key(_key_file(tmp_path / "k", content))


def test_missing_key_file_names_the_setting(tmp_path: Path) -> None:
    """A key file that does not exist is a config error, not a traceback."""
    with pytest.raises(ConfigError, match=r"buffer\.encryption_key_file: cannot read key file"):
        load_key(tmp_path / "absent")


def test_hex_key_equals_raw_key(tmp_path: Path) -> None:
    """The hex form (with a trailing newline) is the same key."""
    raw = os.urandom(32)
    assert load_key(_key_file(tmp_path / "hex", raw.hex().encode() + b"\n")) == raw


def test_sealing_authenticates_content_and_context() -> None:
    """Ciphertext differs per frame; tampering or another segment's aad is detected."""
    sealer = AesGcmSealer(os.urandom(32))
    a, b = sealer.seal(b"data", b"seg1"), sealer.seal(b"data", b"seg1")
    assert a != b and sealer.open(a, b"seg1") == b"data"
    with pytest.raises(ValueError, match="authentication failed"):
        sealer.open(a, b"seg2")
    with pytest.raises(ValueError, match="authentication failed"):
        sealer.open(a[:-1] + bytes([a[-1] ^ 1]), b"seg1")


async def test_encrypted_buffer_round_trips_without_plaintext_on_disk(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """With a key, frames are unreadable on disk and come back intact to the exporter."""
    key = str(_key_file(tmp_path / "key", os.urandom(32)))
    data = tmp_path / "buf"
    await write(
        data,
        [log_fragment(range(10)), log_fragment(range(10, 20))],
        encryption_key_file=key,
        compression="none",
    )
    for seg in segment_files(data):
        assert b"record 5" not in seg.read_bytes()
    async with opened(data, encryption_key_file=key) as buf:
        ids = sorted(i for b in await drain(buf) for i in record_ids(b))
    assert ids == list(range(20))


async def test_encrypted_buffer_needs_its_key(tmp_path: Path, io_clock: trio.testing.MockClock) -> None:
    """Opening encrypted segments without the key, or with another key, fails with a clear message."""
    key = str(_key_file(tmp_path / "key", os.urandom(32)))
    other = str(_key_file(tmp_path / "other", os.urandom(32)))
    data = tmp_path / "buf"
    await write(data, [log_fragment(range(3))], encryption_key_file=key)
    for configured, message in [("", "encrypted but no key is configured"), (other, "different key")]:
        expected = pytest.RaisesExc(ConfigError, match=message)
        with pytest.RaisesGroup(expected, flatten_subgroups=True):
            async with opened(data, encryption_key_file=configured):
                pass
    assert len(segment_files(data)) == 1, "nothing is deleted when the key is wrong"


async def test_tampered_ciphertext_is_counted_not_delivered(
    tmp_path: Path, io_clock: trio.testing.MockClock
) -> None:
    """A frame whose ciphertext was altered (checksums fixed up) fails authentication and is counted."""
    key = str(_key_file(tmp_path / "key", os.urandom(32)))
    data = tmp_path / "buf"
    await write(data, [log_fragment(range(3)), log_fragment(range(3, 6))], encryption_key_file=key)
    (seg,) = segment_files(data)
    raw = bytearray(seg.read_bytes())
    head = SEGMENT_HEADER_SIZE
    length = struct.unpack_from("<I", raw, head + 8)[0]
    raw[head + FRAME_HEADER_SIZE + 20] ^= 0xFF
    body = bytes(raw[head + FRAME_HEADER_SIZE : head + FRAME_HEADER_SIZE + length])
    struct.pack_into("<I", raw, head + 16, zlib.crc32(body))
    struct.pack_into("<I", raw, head + 20, zlib.crc32(bytes(raw[head : head + 20])))
    seg.write_bytes(bytes(raw))
    inst = instruments()
    async with opened(data, inst, encryption_key_file=key) as buf:
        ids = sorted(i for b in await drain(buf) for i in record_ids(b))
    assert ids == [3, 4, 5]
    assert dropped(inst, "corrupt") == 3
