"""Real peers for the exporter e2e tests and benchmarks: nginx terminating mTLS, rotel behind it.

Both run as test-owned processes in a temporary directory, on loopback ports
picked at run time: nginx with its own prefix, config, pid, logs and temp
paths (``nginx -p DIR -c nginx.conf -g 'daemon off;'``); rotel forwarding
what it receives to a counting :class:`~edge_agent.testing.OtlpSink` (or to
a blackhole, for benchmarks).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

NGINX_CONF = """\
{user}worker_processes 1;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    log_format mtls '$status $request_uri client="$ssl_client_s_dn" verify=$ssl_client_verify';
    access_log {dir}/access.log mtls;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    client_max_body_size 16m;
    keepalive_timeout 75s;
    upstream rotel {{ server 127.0.0.1:{rotel_port}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {server_cert};
        ssl_certificate_key {server_key};
        ssl_client_certificate {ca};
        ssl_verify_client on;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://rotel;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Rotel:
    binary: Path
    directory: Path
    sink_port: int  # 0 = blackhole exporter (benchmarks)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.binary), "start",
            "--otlp-http-endpoint", f"127.0.0.1:{self.port}",
            "--otlp-grpc-endpoint", f"127.0.0.1:{free_port()}",
            *(
                ("--exporter", "otlp",
                 "--otlp-exporter-endpoint", f"http://127.0.0.1:{self.sink_port}",
                 "--otlp-exporter-protocol", "http")
                if self.sink_port
                else ("--exporter", "blackhole")
            ),
            "--batch-timeout", "50ms",
            "--pid-file", str(self.directory / "rotel.pid"),
            "--log-file", str(self.directory / "rotel.log"),
        ]  # fmt: skip
        with (self.directory / "rotel.out").open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_listening(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class Nginx:
    binary: Path
    directory: Path
    rotel_port: int
    ca: Path
    server_cert: Path
    server_key: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.directory / "tmp").mkdir(parents=True, exist_ok=True)
        conf = NGINX_CONF.format(
            user="user root;\n" if os.geteuid() == 0 else "",
            dir=self.directory,
            port=self.port,
            rotel_port=self.rotel_port,
            server_cert=self.server_cert,
            server_key=self.server_key,
            ca=self.ca,
        )
        (self.directory / "nginx.conf").write_text(conf)
        args = [str(self.binary), "-p", str(self.directory), "-c", "nginx.conf", "-g", "daemon off;"]
        with (self.directory / "nginx.out").open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError("nginx did not start: " + (self.directory / "nginx.out").read_text()) from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests in flight
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def access_log(self) -> str:
        path = self.directory / "access.log"
        return path.read_text() if path.exists() else ""

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""
