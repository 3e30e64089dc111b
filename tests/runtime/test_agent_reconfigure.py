"""Agent.reconfigure on a running agent: only what changed restarts, nothing buffered is lost,
a config that fails to apply is rolled back, and liveness reflects wedged stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from edge_agent.errors import PluginError, ReconfigureError
from edge_agent.otlp.fragment import Signal
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.testing import OtlpSink
from tests.agent_harness import (
    agent_toml,
    load_text,
    memory_connector,
    poll_until,
    seqs_by_instance,
    tags_by_instance,
)


def _plugins(*specs: tuple[str, str]) -> str:
    return "".join(
        f'\n[plugins.{name}]\ntype = "aseqlogs"\ninterval = "1s"\n{extra}\n' for name, extra in specs
    )


def _settings(agent: Agent, name: str) -> Any:
    return {p.name: p for p in agent.config.plugins}[name].settings


class Harness:
    def __init__(self, tmp_path: Path, nursery: trio.Nursery, sink: OtlpSink) -> None:
        self.path = tmp_path / "agent.toml"
        self.state = tmp_path / "state"
        self.nursery = nursery
        self.sink = sink
        self.agent: Agent | None = None

    async def start(self, body: str) -> Agent:
        loaded = load_text(self.path, agent_toml(self.state, body))
        registry = PluginRegistry.for_config(loaded.config.agent.plugin_dirs)
        connect = memory_connector(self.sink, self.nursery)
        self.agent = Agent(loaded.config, registry, state_dir=self.state, connect=connect)
        self.done = trio.Event()

        async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            assert self.agent is not None
            await self.agent.run(task_status=task_status)
            self.done.set()

        await self.nursery.start(run)
        return self.agent

    def load(self, body: str) -> object:
        assert self.agent is not None
        return load_text(self.path, agent_toml(self.state, body), plugin_types=self.agent.plugin_types)

    async def stop(self) -> None:
        assert self.agent is not None
        self.agent.request_stop()
        await self.done.wait()


@pytest.fixture
async def harness(tmp_path: Path, nursery: trio.Nursery) -> Harness:
    sink = OtlpSink()
    return Harness(tmp_path, nursery, sink)


async def test_only_changed_instances_restart(harness: Harness, thread_safe_clock: object) -> None:
    """Unchanged instances keep running untouched; changed ones restart; new ones start; removed stop."""
    agent = await harness.start(_plugins(("a", 'tag = "v1"'), ("b", 'tag = "v1"')))
    with trio.fail_after(60):
        await harness.sink.wait_for(Signal.LOGS, 10)
    task_a = agent._runners["a"]
    plan = await agent.reconfigure(
        harness.load(_plugins(("a", 'tag = "v1"'), ("b", 'tag = "v2"'), ("c", 'tag = "v1"')))  # type: ignore[arg-type]
    )
    assert (plan.start, plan.stop, plan.restart, plan.keep) == (("c",), (), ("b",), ("a",))
    assert agent._runners["a"] is task_a
    await trio.sleep(10)
    seqs = seqs_by_instance(harness.sink)
    assert seqs["a"] == list(range(len(seqs["a"])))  # one uninterrupted sequence: never restarted
    assert seqs["b"].count(0) == 2  # restarted once
    tags = tags_by_instance(harness.sink)
    assert tags["b"]["v1"] > 0
    assert tags["b"]["v2"] > 0
    assert tags["c"]["v1"] > 0
    assert _settings(agent, "b").tag == "v2"

    plan = await agent.reconfigure(harness.load(_plugins(("a", 'tag = "v1"'), ("b", 'tag = "v2"'))))  # type: ignore[arg-type]
    assert plan.stop == ("c",)
    assert agent.plugin_status("c") is None
    await trio.sleep(2)  # let anything c emitted before it stopped reach the sink
    c_count = len(seqs_by_instance(harness.sink)["c"])
    await trio.sleep(10)
    assert len(seqs_by_instance(harness.sink)["c"]) == c_count
    assert agent.status()["last_reload"]["changes"] == "plugins -c"
    await harness.stop()


async def test_reload_without_changes_touches_nothing(harness: Harness, thread_safe_clock: object) -> None:
    """The same config again: no instance restarts, the exporter stays."""
    body = _plugins(("a", ""))
    agent = await harness.start(body)
    runners, exporter = dict(agent._runners), agent.exporter
    plan = await agent.reconfigure(harness.load(body))  # type: ignore[arg-type]
    assert plan.is_noop()
    assert agent._runners == runners
    assert agent.exporter is exporter
    await harness.stop()


async def test_config_a_plugin_rejects_changes_nothing(harness: Harness, thread_safe_clock: object) -> None:
    """A plugin constructor refusing its new settings aborts before anything is touched."""
    agent = await harness.start(_plugins(("a", "")))
    before = dict(agent._runners)
    with pytest.raises(PluginError, match="plugin a \\(aseqlogs\\) rejected its config: records must not be"):
        await agent.reconfigure(harness.load(_plugins(("a", "records = -1"))))  # type: ignore[arg-type]
    assert agent._runners == before
    assert _settings(agent, "a").records == 5
    assert agent.readiness() == (True, "ready")
    await harness.stop()


async def test_failed_start_rolls_back_to_the_previous_config(
    harness: Harness, thread_safe_clock: object
) -> None:
    """An instance failing its first start with the new config brings back the old one."""
    agent = await harness.start(_plugins(("a", 'tag = "old"')))
    with pytest.raises(
        ReconfigureError, match="plugin a failed to start: RuntimeError: told to fail"
    ) as info:
        await agent.reconfigure(
            harness.load(_plugins(("a", 'tag = "new"\nfail_setup = true'), ("b", "")))  # type: ignore[arg-type]
        )
    assert info.value.rolled_back
    assert sorted(agent._runners) == ["a"]  # b, started by the failed apply, is gone again
    assert agent.plugin_status("a").state == "running"  # type: ignore[union-attr]
    assert _settings(agent, "a").tag == "old"
    seen = len(harness.sink.requests)
    await trio.sleep(10)
    assert len(harness.sink.requests) > seen
    assert set(tags_by_instance(harness.sink)["a"]) == {"old"}
    await harness.stop()


async def test_rollback_restores_the_old_resource(harness: Harness, thread_safe_clock: object) -> None:
    """A failed apply that changed [resource] relaunches the old instances with the old resource."""
    old_resource = '\n[resource.attributes]\nsite = "old"\n'
    new_resource = '\n[resource.attributes]\nsite = "new"\n'
    agent = await harness.start(_plugins(("a", "")) + old_resource)
    with pytest.raises(ReconfigureError, match="plugin b failed to start"):
        await agent.reconfigure(
            harness.load(_plugins(("a", ""), ("b", "fail_setup = true")) + new_resource)  # type: ignore[arg-type]
        )
    await trio.sleep(2)  # whatever the briefly restarted instance sent is delivered by now
    mark = len(harness.sink.resource_attributes)
    await trio.sleep(10)
    sites = {attrs.get("site") for attrs in harness.sink.resource_attributes[mark:]}
    assert sites == {"old"}
    await harness.stop()


async def test_exporter_swap_loses_no_batch(harness: Harness, thread_safe_clock: object) -> None:
    """Replacing the exporter mid-retry puts its batch back; every record arrives once, via the new one."""
    retry = '\n[exporter.retry_on_failure]\ninitial_interval = "100ms"\nmax_interval = "200ms"\n'
    harness.sink.fail_with = 503
    agent = await harness.start(_plugins(("a", "")) + retry)
    with trio.fail_after(60):
        await poll_until(
            lambda: agent.export_status["requests_failed"] >= 3 and agent.buffer.in_flight_bytes() > 0
        )
    plan = await agent.reconfigure(
        harness.load(_plugins(("a", "")) + retry + '\n[exporter.headers]\nx-generation = "2"\n')  # type: ignore[arg-type]
    )
    assert plan.replace_exporter
    assert agent.export_status["requests_failed"] == 0  # a fresh exporter
    harness.sink.fail_with = None
    await trio.sleep(5)
    await harness.stop()
    totals = agent.accounting()
    seqs = seqs_by_instance(harness.sink)["a"]
    assert sorted(seqs) == list(range(totals["collected"]))  # all of them, each once
    assert totals["exported"] == totals["collected"]
    assert {r.headers.get("x-generation") for r in harness.sink.requests} == {"2"}


async def test_live_settings_apply_in_place(harness: Harness, thread_safe_clock: object) -> None:
    """log_level and stall_timeout change without restarting anything."""
    import logging

    agent = await harness.start(_plugins(("a", "")))
    body = _plugins(("a", "")) + '\n[service]\nstall_timeout = "7s"\n'
    text = agent_toml(harness.state, body).replace(
        'shutdown_grace = "3s"', 'shutdown_grace = "3s"\nlog_level = "debug"'
    )
    harness.path.write_text(text)
    from edge_agent.config.load import load_config

    loaded = load_config(main_path=harness.path, environ={}, plugin_types=agent.plugin_types)
    plan = await agent.reconfigure(loaded)
    assert plan.live_keys == ("agent.log_level", "service.stall_timeout")
    assert agent.liveness.grace == 7
    assert logging.getLogger("edge_agent").level == logging.DEBUG
    logging.getLogger("edge_agent").setLevel(logging.INFO)
    await harness.stop()


async def test_reconfigure_is_refused_while_draining(harness: Harness, thread_safe_clock: object) -> None:
    """Once shutdown began, a reload is refused (the agent is on its way out)."""

    async def never_answers(endpoint: object) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        silent.append(server)
        return client

    silent: list[trio.abc.Stream] = []
    agent = await harness.start(_plugins(("a", "")))
    agent._connect = never_answers  # the exporter built by the next swap talks to a hung upstream
    await agent.reconfigure(harness.load(_plugins(("a", "")) + '\n[exporter.headers]\nx-test = "1"\n'))  # type: ignore[arg-type]
    await trio.sleep(3)  # a request is in flight, unanswered: the drain has to wait for it
    agent.request_stop()
    await trio.sleep(0.5)
    with pytest.raises(ReconfigureError, match="while the pipeline is draining"):
        await agent.reconfigure(harness.load(_plugins(("b", ""))))  # type: ignore[arg-type]
    await harness.done.wait()


async def test_wedged_blocking_scrape_makes_the_agent_unhealthy(harness: Harness, tmp_path: Path) -> None:
    """A scrape stuck in its worker thread past interval + stall_timeout fails the health check;
    it recovers once the scrape returns. (Real clock: a real thread is what wedges.)"""
    wedge = tmp_path / "wedge"
    body = (
        f'\n[plugins.w]\ntype = "seqlogs"\ninterval = "100ms"\nwedge_file = "{wedge}"\n'
        '\n[service]\nstall_timeout = "500ms"\n'
    )
    agent = await harness.start(body)
    assert agent.health() == (True, "live")
    wedge.touch()
    with trio.fail_after(10):
        await poll_until(lambda: not agent.health()[0], 0.05)
    _, why = agent.health()
    assert why.startswith("wedged: plugin w (scrape) made no progress for")
    assert agent.status()["pipeline"]["health"] == why
    assert agent.summary().health == why
    wedge.unlink()
    with trio.fail_after(10):
        await poll_until(lambda: agent.health()[0], 0.05)
    await harness.stop()


EXTRA_PLUGIN = """
from edge_agent import Scraper


class Extra(Scraper[None]):
    name = "extra"
    default_interval = 1.0

    async def scrape(self, ctx):
        b = ctx.metrics()
        b.gauge("extra.value", 1)
        return [b.build()]
"""


async def test_new_plugin_directory_brings_new_plugin_types(
    harness: Harness, tmp_path: Path, thread_safe_clock: object
) -> None:
    """Adding a plugin directory on reload makes its plugin types usable at once."""
    extra_dir = tmp_path / "more-plugins"
    extra_dir.mkdir()
    (extra_dir / "extra.py").write_text(EXTRA_PLUGIN)
    agent = await harness.start(_plugins(("a", "")))
    text = agent_toml(harness.state, _plugins(("a", "")) + '\n[plugins.x]\ntype = "extra"\n')
    text = text.replace("plugin_dirs = [", f'plugin_dirs = ["{extra_dir}", ')
    plan = await agent.reconfigure(load_text(harness.path, text, plugin_types=agent.plugin_types))
    assert plan.start == ("x",)
    assert plan.keep == ("a",)
    assert plan.live_keys == ("agent.plugin_dirs",)
    with trio.fail_after(30):
        await poll_until(lambda: harness.sink.metric_names["extra.value"] > 0)
    assert "extra" in agent.registry.names()
    await harness.stop()


async def test_receiver_moved_to_a_taken_port_is_rolled_back(harness: Harness) -> None:
    """Moving the OTLP receiver to a port something else holds fails the apply; the receiver comes
    back on its old port and accepts data there. (Real sockets, real clock.)"""
    import http.client
    import socket

    from edge_agent.otlp import attributes
    from edge_agent.otlp.builders import LogsBuilder

    with socket.socket() as busy, socket.socket() as probe:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
        probe.close()
        agent = await harness.start(f'\n[plugins.otlp]\nendpoint = "127.0.0.1:{free}"\n')
        with pytest.raises(
            ReconfigureError,
            match=r"plugin otlp failed to start: OSError: \[Errno 98\] Address already in use",
        ) as info:
            await agent.reconfigure(harness.load(f'\n[plugins.otlp]\nendpoint = "127.0.0.1:{taken}"\n'))  # type: ignore[arg-type]
        assert info.value.rolled_back
    builder = LogsBuilder(attributes.resource({"service.name": "app"}), attributes.scope("app"))
    builder.record("hello")
    body = builder.build().payload

    def post() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", free, timeout=5)
        try:
            conn.request("POST", "/v1/logs", body, {"Content-Type": "application/x-protobuf"})
            return conn.getresponse().status
        except OSError:
            return 0
        finally:
            conn.close()

    with trio.fail_after(20):
        while (status := await trio.to_thread.run_sync(post)) == 0:  # until it listens again
            await trio.sleep(0.1)
    assert status == 200
    with trio.fail_after(20):
        await harness.sink.wait_for(Signal.LOGS, 1)
    await harness.stop()
