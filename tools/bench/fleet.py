"""Fleet client cost: CPU, RSS and bytes of idle heartbeat polls, and push -> APPLIED latency.

Run:  python tools/bench/fleet.py [--seconds 120] [--heartbeat 1] [--pushes 20]

Three processes on loopback: the fleet server (``tools/fleet_server.py
serve``, heartbeat offered to agents: ``--heartbeat`` s) and two
``edge-agent run`` agents exporting to the same counting sink, identical
except that agent A has ``[fleet] enabled = true``. Both run host metrics
every 60 s and nothing else.

* Idle polling: over ``--seconds`` the CPU time of A minus B divided by A's
  polls is the CPU per heartbeat (user and system time apart: on loopback the
  kernel's TCP work for both directions is charged to the sender). Baseline,
  measured in the same run: a bare client process (a blocking socket, the
  same request bytes prebuilt, no parsing beyond reading the answer) doing
  the same number of polls at the same rate. Also RSS of A and B and HTTP
  bytes per poll (heads + bodies, both directions, counted by the server).
* Apply latency: ``--pushes`` signed configs alternate the host-metrics
  interval of A. The server measures first offer -> APPLIED; the health
  window (1 s) is subtracted. Baseline, same run: the same change applied by
  SIGHUP to agent B (signal -> "reloaded configuration" log line). The fleet
  path adds signature verification, the second (local-only) load, two
  fsynced state files and the status round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
from _common import proc_rss_bytes

from edge_agent.fleet.signing import generate_keypair, sign_config
from tools.mtlspeers import free_port, wait_listening

MiB = 1024 * 1024
HEALTH_WINDOW = 1.0


def _agent_config(tmp: Path, name: str, sink: str, fleet: str | None, pubkey: Path) -> Path:
    fleet_table = (
        f'[fleet]\nenabled = true\nendpoint = "{fleet}"\npublic_key_file = "{pubkey}"\n'
        f'health_window = "{HEALTH_WINDOW}s"\n'
        if fleet
        else ""
    )
    path = tmp / f"{name}.toml"
    path.write_text(
        f'[agent]\nstate_dir = "{tmp / name}"\nshutdown_grace = "1s"\n[admin]\nenabled = false\n'
        f'[self_telemetry]\nenabled = false\n[exporter]\nendpoint = "{sink}"\n'
        f'[plugins.hostmetrics]\ninterval = "60s"\n{fleet_table}'
    )
    return path


class Agent:
    def __init__(self, config: Path) -> None:
        argv = [
            str(Path(sys.executable).parent / "edge-agent"),
            "run",
            "-c",
            str(config),
            "--log-format",
            "json",
        ]
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(json.loads(line)["msg"])
                self._cond.notify_all()

    def wait_for(self, fragment: str, after: int = 0) -> int:
        with self._cond:
            while True:
                for i in range(after, len(self.lines)):
                    if fragment in self.lines[i]:
                        return i
                if not self._cond.wait(30):
                    raise SystemExit(f"no {fragment!r} in the agent log: {self.lines[-5:]}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)


def _api(admin: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{admin}{path}", data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _pushed(interval: int) -> str:
    return f'[plugins.hostmetrics]\ninterval = "{interval}s"\n'


BARE_POLLER = r"""
import socket, sys, time
host, port, interval, seconds, uid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
from edge_agent.fleet import messages as m
sock = socket.create_connection((host, port))
raw_uid = bytes.fromhex(uid)
deadline, seq = time.monotonic() + seconds, 0
while time.monotonic() < deadline:
    body = m.AgentToServer(instance_uid=raw_uid, sequence_num=seq, capabilities=0x3807).SerializeToString()
    head = (f"POST /v1/opamp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-protobuf\r\n"
            f"{m.INSTANCE_UID_HEADER}: {m.uid_text(raw_uid)}\r\nContent-Length: {len(body)}\r\n\r\n")
    sock.sendall(head.encode() + body)
    answer = sock.recv(65536)
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    seq += 1
    time.sleep(interval)
print(seq, flush=True)
time.sleep(5)
"""


def _proc_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def bench_bare(port: int, interval: float, seconds: float) -> tuple[float, float, int]:
    """CPU (user, system) per request of the bare baseline client (start-up excluded), and its count."""
    argv = [sys.executable, "-c", BARE_POLLER, "127.0.0.1", str(port), str(interval), str(seconds)]
    proc = subprocess.Popen([*argv, os.urandom(16).hex()], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # imports done, polling
    start = _proc_times(proc.pid)
    assert proc.stdout is not None
    count = int(proc.stdout.readline())  # printed when the loop ends; then it sleeps
    end = _proc_times(proc.pid)
    proc.kill()
    proc.wait()
    polls = max(1, int(count * (seconds - 1.0) / seconds))  # the polls made after ``start``
    return (end[0] - start[0]) / polls, (end[1] - start[1]) / polls, count


def bench_idle(admin: str, a: Agent, b: Agent, seconds: float, port: int) -> None:
    time.sleep(3)  # first full report, heartbeat offer, warm-up
    stats0, ta0, tb0 = _api(admin, "/api/stats"), _proc_times(a.proc.pid), _proc_times(b.proc.pid)
    time.sleep(seconds)
    stats1, ta1, tb1 = _api(admin, "/api/stats"), _proc_times(a.proc.pid), _proc_times(b.proc.pid)
    polls = stats1["requests"] - stats0["requests"]
    user = ((ta1[0] - ta0[0]) - (tb1[0] - tb0[0])) / max(polls, 1)
    system = ((ta1[1] - ta0[1]) - (tb1[1] - tb0[1])) / max(polls, 1)
    bare_user, bare_system, bare_count = bench_bare(port, seconds / max(polls, 1), seconds)
    bare = bare_user + bare_system
    print(f"idle heartbeat polls over {seconds:.0f} s: {polls} by the agent, {bare_count} by the bare client")
    print(f"  CPU agent without fleet            : {(sum(tb1) - sum(tb0)) * 1000:8.0f} ms")
    print(f"  CPU agent with fleet               : {(sum(ta1) - sum(ta0)) * 1000:8.0f} ms")
    print(
        f"  CPU per poll, fleet client         : {(user + system) * 1000:8.2f} ms "
        f"(user {user * 1000:.2f}, system {system * 1000:.2f})"
    )
    print(
        f"  CPU per poll, bare client (base)   : {bare * 1000:8.2f} ms "
        f"(user {bare_user * 1000:.2f}, system {bare_system * 1000:.2f})"
    )
    if bare > 0:
        print(f"  ratio                              : {(user + system) / bare:8.1f}x baseline")
    print(
        f"  bytes per poll, agent -> server    : {(stats1['bytes_in'] - stats0['bytes_in']) / max(polls, 1):8.0f}"
    )
    print(
        f"  bytes per poll, server -> agent    : {(stats1['bytes_out'] - stats0['bytes_out']) / max(polls, 1):8.0f}"
    )
    print(f"  RSS without fleet / with fleet     : {proc_rss_bytes(b.proc.pid) / MiB:6.1f} / "
          f"{proc_rss_bytes(a.proc.pid) / MiB:6.1f} MiB")  # fmt: skip


def bench_apply(admin: str, key: bytes, a: Agent, b: Agent, b_config: Path, pushes: int) -> None:
    fleet_ms, sighup_ms = [], []
    base_text = b_config.read_text()
    for n in range(pushes):
        interval = 61 + n % 2
        config = _pushed(interval).encode()
        sig = sign_config(key, config, version=n + 1)
        files = {"agent.toml": config.decode(), "agent.toml.sig": sig.decode()}
        pushed = _api(admin, "/api/push", {"uid": "", "files": files})["config_hash"]
        while True:
            agent = _api(admin, "/api/agents")[0]
            remote = agent["remote_config"]
            if (
                remote["hash"] == pushed
                and remote["status"] == "APPLIED"
                and agent["apply_seconds"] is not None
            ):
                break
            if remote["hash"] == pushed and remote["status"] == "FAILED":
                raise SystemExit(f"push {n + 1} failed: {remote['error']}")
            time.sleep(0.01)
        fleet_ms.append((agent["apply_seconds"] - HEALTH_WINDOW) * 1000)
        if os.environ.get("FLEET_BENCH_VERBOSE"):
            print(f"  push {n + 1}: {fleet_ms[-1]:.1f} ms", flush=True)
        b_config.write_text(base_text.replace('interval = "60s"', f'interval = "{interval}s"'))
        mark = len(b.lines)
        started = time.perf_counter()
        b.proc.send_signal(signal.SIGHUP)
        b.wait_for("reloaded configuration", after=mark)
        sighup_ms.append((time.perf_counter() - started) * 1000)
    fleet, sighup = statistics.median(fleet_ms), statistics.median(sighup_ms)
    print(f"apply latency over {pushes} pushes (health window of {HEALTH_WINDOW:g} s subtracted):")
    print(f"  SIGHUP -> reloaded (baseline)      : {sighup:8.1f} ms median")
    print(f"  offer -> APPLIED at the server     : {fleet:8.1f} ms median  ({fleet / sighup:.1f}x baseline)")
    print(f"  offer -> APPLIED, max              : {max(fleet_ms):8.1f} ms")
    print(f"  RSS after the pushes (with fleet)  : {proc_rss_bytes(a.proc.pid) / MiB:8.1f} MiB "
          "(cryptography is imported by the first signature check)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--heartbeat", type=int, default=1)
    parser.add_argument("--pushes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        private, public = generate_keypair()
        (tmp / "fleet.pub").write_bytes(public)
        port, admin_port, sink_port = free_port(), free_port(), free_port()
        admin = f"127.0.0.1:{admin_port}"
        root = Path(__file__).resolve().parent.parent.parent
        server = subprocess.Popen(
            [sys.executable, str(root / "tools" / "fleet_server.py"), "serve", "--listen", f"127.0.0.1:{port}",
             "--admin", admin, "--heartbeat", str(args.heartbeat)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        sink = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.testing", "sink", "--port", str(sink_port)],
            stdout=subprocess.DEVNULL,
        )
        agents: list[Agent] = []
        try:
            wait_listening(port)
            wait_listening(sink_port)
            endpoint = f"http://127.0.0.1:{sink_port}"
            b_config = _agent_config(tmp, "b", endpoint, None, tmp / "fleet.pub")
            a = Agent(
                _agent_config(tmp, "a", endpoint, f"http://127.0.0.1:{port}/v1/opamp", tmp / "fleet.pub")
            )
            b = Agent(b_config)
            agents = [a, b]
            a.wait_for("reporting to")
            b.wait_for("running:")
            bench_idle(admin, a, b, args.seconds, port)
            bench_apply(admin, private, a, b, b_config, args.pushes)
        finally:
            for agent in agents:
                agent.stop()
            for proc in (server, sink):
                proc.terminate()
                proc.wait(10)
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
