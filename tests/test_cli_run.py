"""`edge-agent run` as systemd runs it: a real subprocess, a real notification socket bound by the
test, a real OTLP sink. READY only once the pipeline runs, watchdog pings that stop while it is
wedged, STOPPING and a bounded drain on SIGTERM with every record accounted for, an immediate exit
on a second SIGTERM, and SIGHUP reloads that refuse broken configs and apply valid ones without
losing buffered data."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest
import trio

from edge_agent.otlp.fragment import Signal
from edge_agent.testing import OtlpSink
from tests.agent_harness import (
    AgentProcess,
    NotifyListener,
    agent_toml,
    http_get,
    poll_until,
    seqs_by_instance,
    tags_by_instance,
)

pytestmark = pytest.mark.slow

WATCHDOG_USEC = "400000"  # pings every 0.2 s
FAST_RETRY = '\n[exporter.retry_on_failure]\ninitial_interval = "200ms"\nmax_interval = "500ms"\n'


@pytest.fixture
async def sink(nursery: trio.Nursery) -> OtlpSink:
    otlp = OtlpSink()
    await nursery.start(otlp.serve)
    return otlp


@pytest.fixture
async def listener(tmp_path: Path, nursery: trio.Nursery) -> NotifyListener:
    notify = NotifyListener(str(tmp_path / "notify"))
    await notify.bind()
    nursery.start_soon(notify.run)
    return notify


class Setup:
    def __init__(
        self, tmp_path: Path, nursery: trio.Nursery, sink: OtlpSink, listener: NotifyListener
    ) -> None:
        self.tmp = tmp_path
        self.config = tmp_path / "agent.toml"
        self.state = tmp_path / "state"
        self.nursery = nursery
        self.sink = sink
        self.listener = listener

    def write(self, body: str, *, grace: str = "3s", endpoint: str | None = None) -> None:
        endpoint = endpoint or self.sink.endpoint
        self.config.write_text(agent_toml(self.state, body, endpoint=endpoint, admin=True, grace=grace))

    async def start(
        self,
        body: str,
        *,
        grace: str = "3s",
        watchdog: str = WATCHDOG_USEC,
        endpoint: str | None = None,
        env: dict[str, str] | None = None,
    ) -> AgentProcess:
        self.write(body, grace=grace, endpoint=endpoint)
        env = {"NOTIFY_SOCKET": self.listener.address, "WATCHDOG_USEC": watchdog, **(env or {})}
        self.agent = await AgentProcess.start(self.nursery, self.config, env)
        return self.agent

    def admin(self) -> str:
        return (self.state / "admin.addr").read_text().strip()

    async def ready(self) -> int:
        with trio.fail_after(30):
            return await self.listener.wait_for("READY", "1")


@pytest.fixture
async def setup(tmp_path: Path, nursery: trio.Nursery, sink: OtlpSink, listener: NotifyListener) -> Setup:
    return Setup(tmp_path, nursery, sink, listener)


def _seq(name: str, *lines: str) -> str:
    return f'\n[plugins.{name}]\ntype = "seqlogs"\ninterval = "50ms"\n' + "".join(
        f"{line}\n" for line in lines
    )


async def _stop(agent: AgentProcess, limit: float = 15) -> tuple[int, float]:
    started = trio.current_time()
    agent.signal(signal.SIGTERM)
    with trio.fail_after(limit):
        code = await agent.wait()
    return code, trio.current_time() - started


@pytest.mark.parametrize("socket_kind", ["path", "abstract"])
async def test_ready_only_once_the_pipeline_runs(
    tmp_path: Path, nursery: trio.Nursery, sink: OtlpSink, socket_kind: str
) -> None:
    """READY=1 arrives after the (slow) plugin setup finished and /readyz is 200; watchdog pings
    follow at half WATCHDOG_USEC; SIGTERM sends STOPPING=1 and the agent exits 0."""
    address = str(tmp_path / "notify") if socket_kind == "path" else f"@edge-agent-test/{uuid.uuid4()}"
    listener = NotifyListener(address)
    await listener.bind()
    nursery.start_soon(listener.run)
    setup = Setup(tmp_path, nursery, sink, listener)
    marker = tmp_path / "setup-done"
    spawned = trio.current_time()
    agent = await setup.start(_seq("slow", "setup_delay = 1.5", f'setup_marker = "{marker}"'))
    index = await setup.ready()
    ready_at, ready = listener.messages[index]
    assert marker.exists()  # the plugin had finished its setup before READY
    assert ready_at - spawned >= 1.5
    assert ready["STATUS"].startswith("running, ")
    assert all("READY" not in m for _, m in listener.messages[:index])
    assert await http_get(setup.admin(), "/readyz") == (200, "ready\n")
    assert await http_get(setup.admin(), "/healthz") == (200, "ok\n")
    with trio.fail_after(10):
        await listener.wait_for("WATCHDOG", "1", after=index)
    await trio.sleep(1)
    pings = listener.count("WATCHDOG", start=ready_at)
    assert 3 <= pings <= 10
    code, _ = await _stop(agent)
    assert code == 0
    stopping = await listener.wait_for("STOPPING", "1")
    assert listener.messages[stopping][1]["STATUS"].startswith("stopping: draining ")


async def test_sighup_during_start_up_is_served_after_ready(setup: Setup) -> None:
    """A reload requested while plugins are still starting waits: READY=1 first, then
    RELOADING=1 and READY=1 again."""
    marker = setup.tmp / "setup-done"
    agent = await setup.start(_seq("slow", "setup_delay = 1.5", f'setup_marker = "{marker}"'))
    with trio.fail_after(20):
        await poll_until((setup.state / "agent.cbor").exists)  # the event loop is running
    agent.signal(signal.SIGHUP)
    first = await setup.ready()
    assert marker.exists()
    with trio.fail_after(10):
        reloading = await setup.listener.wait_for("RELOADING", "1")
        again = await setup.listener.wait_for("READY", "1", after=reloading)
    assert first < reloading < again
    assert await agent.wait_log("reloaded configuration: no changes")
    code, _ = await _stop(agent)
    assert code == 0


async def test_watchdog_pings_stop_while_the_scheduler_is_wedged(setup: Setup) -> None:
    """A scrape hung in its worker thread silences the watchdog (and fails /healthz and STATUS)
    once interval + stall_timeout pass; pings resume when it unwedges."""
    wedge = setup.tmp / "wedge"
    body = (
        _seq("w", f'wedge_file = "{wedge}"')
        + '\n[service]\nstall_timeout = "1s"\nstatus_interval = "300ms"\n'
    )
    agent = await setup.start(body)
    await setup.ready()
    with trio.fail_after(10):
        await setup.listener.wait_for("WATCHDOG")
    wedge.touch()
    wedged_at = trio.current_time()
    with trio.fail_after(10):
        await agent.wait_log("withholding watchdog pings so systemd restarts the agent")
    silent_from = trio.current_time()
    await trio.sleep(2)
    assert setup.listener.count("WATCHDOG", start=silent_from) == 0
    assert silent_from - wedged_at < 3  # 50 ms interval + 1 s grace, plus one ping period
    status, body_text = await http_get(setup.admin(), "/healthz")
    assert status == 503
    assert body_text.startswith("wedged: plugin w (scrape) made no progress for")
    statuses = [m["STATUS"] for t, m in setup.listener.messages if t >= silent_from and "STATUS" in m]
    assert any(s.startswith("WEDGED: plugin w (scrape)") for s in statuses)
    wedge.unlink()
    with trio.fail_after(10):
        await agent.wait_log("pipeline is live again; watchdog pings resume")
    resumed = trio.current_time()
    await trio.sleep(1)
    assert setup.listener.count("WATCHDOG", start=resumed) >= 3
    code, _ = await _stop(agent)
    assert code == 0


async def test_sigterm_drains_every_record_upstream(setup: Setup) -> None:
    """With the upstream up, SIGTERM stops the sources and delivers everything: the sink holds
    every accepted record, the agent exits 0 well within the grace period."""
    agent = await setup.start(_seq("a", "records = 20"), grace="5s")
    await setup.ready()
    with trio.fail_after(20):
        await setup.sink.wait_for(Signal.LOGS, 200)
    code, took = await _stop(agent)
    assert code == 0
    assert took < 5
    totals = agent.accounting()
    assert totals["queued"] == totals["dropped"] == 0
    assert totals["exported"] == totals["collected"] == setup.sink.records[Signal.LOGS]
    seqs = seqs_by_instance(setup.sink)["a"]
    assert sorted(seqs) == list(range(totals["collected"]))


async def test_sigterm_with_upstream_down_exits_within_grace_and_keeps_the_books(
    setup: Setup, nursery: trio.Nursery
) -> None:
    """With the upstream refusing, the drain gives up after shutdown_grace and exits 0; every
    accepted record is exported, dropped with a reason, or still queued (and, with the disk
    buffer, delivered by the next start)."""
    setup.sink.fail_with = 503
    agent = await setup.start(_seq("a", "records = 20"), grace="1s")
    await setup.ready()
    await trio.sleep(1)
    code, took = await _stop(agent)
    assert code == 0
    assert took < 1 + 4
    totals = agent.accounting()
    assert totals["collected"] > 0
    assert totals["exported"] == setup.sink.records[Signal.LOGS] == 0
    assert totals["collected"] == totals["exported"] + totals["dropped"] + totals["queued"]
    line = await agent.wait_log("record accounting:")
    if "kept on disk" not in line:
        assert "lost: memory buffer" in line
        return
    # durable buffer: the next start (collecting nothing new) delivers exactly what the last one kept
    setup.sink.fail_with = None
    setup.write(_seq("a", "enabled = false"))
    again = await AgentProcess.start(nursery, setup.config, {})
    with trio.fail_after(30):
        await setup.sink.wait_for(Signal.LOGS, totals["queued"])
    seqs = seqs_by_instance(setup.sink)["a"]
    assert len(set(seqs)) == totals["queued"]
    assert set(seqs) <= set(range(totals["collected"]))
    code, _ = await _stop(again)
    assert code == 0


async def test_second_sigterm_exits_at_once(setup: Setup, nursery: trio.Nursery) -> None:
    """A second SIGTERM during a long drain (an upstream that accepts and never answers) exits
    immediately (exit 0), saying so."""

    async def never_answer(stream: trio.abc.Stream) -> None:
        await trio.sleep_forever()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    nursery.start_soon(trio.serve_listeners, never_answer, listeners)
    agent = await setup.start(
        _seq("a"),
        grace="60s",
        endpoint=f"http://127.0.0.1:{port}",
        env={"EDGE_AGENT__EXPORTER__TIMEOUT": "60s"},
    )
    await setup.ready()
    await trio.sleep(0.5)  # a request is in flight, waiting for an answer that never comes
    agent.signal(signal.SIGTERM)
    with trio.fail_after(10):
        await setup.listener.wait_for("STOPPING", "1")
    await trio.sleep(0.5)
    assert agent.process.returncode is None  # still draining
    code, took = await _stop(agent, limit=10)
    assert code == 0
    assert took < 3
    assert any(m.startswith("received SIGTERM again: exiting now") for m in agent.messages("warning"))


async def test_sighup_with_a_broken_config_keeps_the_old_one(setup: Setup) -> None:
    """A config that does not validate changes nothing: one precise error line, RELOADING=1 then
    READY=1 for systemd, and the agent keeps collecting with the old settings."""
    agent = await setup.start(_seq("a", 'tag = "old"'))
    await setup.ready()
    with trio.fail_after(20):
        await setup.sink.wait_for(Signal.LOGS, 20)
    setup.write(_seq("a", 'tag = "new"', "interval_typo = 3"))
    mark = len(setup.listener.messages)
    agent.signal(signal.SIGHUP)
    with trio.fail_after(10):
        reloading = await setup.listener.wait_for("RELOADING", "1", after=mark)
        done = await setup.listener.wait_for("READY", "1", after=reloading)
    assert int(setup.listener.messages[reloading][1]["MONOTONIC_USEC"]) > 0
    assert setup.listener.messages[done][1]["STATUS"].startswith("reload failed: plugins.a.interval_typo: ")
    errors = agent.messages("error")
    assert len(errors) == 1
    assert errors[0].startswith(
        "reload refused, still running the previous config: plugins.a.interval_typo: "
    )
    typo_line = setup.config.read_text().splitlines().index("interval_typo = 3") + 1
    assert errors[0].endswith(f"did you mean 'interval'? (from {setup.config}:{typo_line})")
    seen = setup.sink.records[Signal.LOGS]
    with trio.fail_after(20):
        await setup.sink.wait_for(Signal.LOGS, seen + 20)
    assert set(tags_by_instance(setup.sink)["a"]) == {"old"}
    code, _ = await _stop(agent)
    assert code == 0


async def test_sighup_with_a_valid_config_applies_it_without_losing_data(setup: Setup) -> None:
    """A new instance and a new exporter header take effect; the unchanged instance keeps its
    sequence; records buffered while the upstream was down all arrive, once each."""
    setup.sink.fail_with = 503  # data piles up in the buffer across the reload
    agent = await setup.start(_seq("a") + FAST_RETRY)
    await setup.ready()
    await trio.sleep(1)
    setup.write(_seq("a") + _seq("b") + FAST_RETRY + '\n[exporter.headers]\nx-generation = "2"\n')
    agent.signal(signal.SIGHUP)
    with trio.fail_after(10):
        line = await agent.wait_log("reloaded configuration:")
    assert line == "reloaded configuration: plugins +b; exporter replaced"
    setup.sink.fail_with = None
    with trio.fail_after(20):
        await poll_until(lambda: {"a", "b"} <= set(seqs_by_instance(setup.sink)))
    code, _ = await _stop(agent)
    assert code == 0
    totals = agent.accounting()
    assert totals["queued"] == totals["dropped"] == 0
    assert totals["exported"] == totals["collected"] == setup.sink.records[Signal.LOGS]
    seqs = seqs_by_instance(setup.sink)
    assert sorted(seqs["a"]) == list(range(len(seqs["a"])))  # never restarted, nothing lost
    assert sorted(seqs["b"]) == list(range(len(seqs["b"])))
    assert {r.headers.get("x-generation") for r in setup.sink.requests} == {"2"}


async def test_logs_carry_journal_priorities_when_stderr_is_the_journal_stream(tmp_path: Path) -> None:
    """With $JOURNAL_STREAM naming its stderr (as systemd sets it), the agent writes <N>-prefixed
    lines without timestamps."""
    import os
    import subprocess
    import sys

    from tests.agent_harness import agent_toml

    config = tmp_path / "agent.toml"
    config.write_text(agent_toml(tmp_path / "state", _seq("a"), endpoint="http://127.0.0.1:9", grace="500ms"))
    read_end, write_end = os.pipe()
    info = os.fstat(write_end)
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "-c", str(config)], stderr=write_end, env=env
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as stderr:
            lines = [await trio.to_thread.run_sync(stderr.readline)]
            with trio.fail_after(20):
                while "is unreachable" not in lines[-1]:
                    lines.append(await trio.to_thread.run_sync(stderr.readline, abandon_on_cancel=True))
            assert lines[-1].startswith("<4>exporter: upstream http://127.0.0.1:9 is unreachable")
            proc.send_signal(signal.SIGTERM)
            lines += (await trio.to_thread.run_sync(stderr.read)).splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert all(line.startswith("<") and not line[3:4].isdigit() for line in lines if line)
    assert any(line.startswith("<6>agent: edge-agent ") for line in lines)
    assert proc.returncode == 0
