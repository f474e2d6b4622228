"""Starting and stopping a real `ovid` daemon for the end-to-end tests.

The daemon listens on port 0 (the kernel picks a free port) and logs the port it got; the tests
read it from the log, so parallel ctest runs never collide on a port."""
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(os.environ.get("OVID_ROOT", Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(ROOT / "tests" / "server"))
import metrics_doc  # noqa: E402  (the scrape parser the metrics tests share)
BIN = Path(os.environ.get("OVID_BIN", ROOT / "build" / "bin"))
OVID = BIN / "ovid"
SERVICE = "ovid.v1.Generation"
# Where the daemons run: "cpu" (CI) or "cuda" / "cuda:N" (OVID_E2E_DEVICE, on the GPU machine).
DEVICE = os.environ.get("OVID_E2E_DEVICE", "cpu")


def wait_for(what, predicate, timeout=20):
    """Polls `predicate` until it holds; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def stop_process(proc, grace=30):
    """SIGTERM, then SIGKILL if `proc` has not exited within `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Daemon:
    """One ovid process. `args` are extra flags; OVID_* variables of the test environment are
    dropped so they cannot leak into the configuration."""

    def __init__(self, model, tmp_path, args=(), env=None, ready=True, timeout=120):
        if not OVID.exists():
            raise AssertionError(f"{OVID} is not built (ninja ovid)")
        self.log_path = Path(tmp_path) / f"ovid-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")
        base = {k: v for k, v in os.environ.items() if not k.startswith("OVID_")}
        base.update(env or {})
        argv = [str(OVID), f"--model={model}", "--listen=127.0.0.1:0",
                "--metrics-listen=127.0.0.1:0", f"--device={DEVICE}", *map(str, args)]
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=base)
        self.port = self.wait_for_log(
            r'INFO listening .*\bport=(\d+)|"msg":"listening".*"port":(\d+)', timeout)
        self.address = f"127.0.0.1:{self.port}"
        # Logged before "listening": there already.
        self.metrics_port = self.wait_for_log(
            r'metrics listening .*\bport=(\d+)|"msg":"metrics listening".*"port":(\d+)', 5)
        if ready:
            self.wait_ready(timeout)

    def log(self):
        return self.log_path.read_text()

    def scrape(self):
        """The /metrics text."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=10) as reply:
            return reply.read().decode()

    def metric(self, name, **labels):
        """One sample's value from a fresh scrape (metrics_doc.value)."""
        return metrics_doc.value(metrics_doc.sample_values(self.scrape()), name, **labels)

    def wait_for_log(self, pattern, timeout):
        """Waits for a log line matching `pattern`; returns its first group as an int."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log())
            if match:
                return int(next(g for g in match.groups() if g is not None))
            if self.proc.poll() is not None:
                raise AssertionError(f"ovid exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"ovid did not log {pattern!r} within {timeout} s:\n{self.log()}")

    def health(self, service="", address=None, credentials=None):
        target = address or self.address
        channel = (grpc.secure_channel(target, credentials) if credentials
                   else grpc.insecure_channel(target))
        with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def wait_ready(self, timeout=120, address=None):
        """Waits for readiness, asked on `address` (default: the API port, plaintext)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ovid exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.health(SERVICE, address=address) == "SERVING":
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"ovid not ready within {timeout} s:\n{self.log()}")

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=60):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ovid did not exit within {timeout} s:\n{self.log()}") from None

    def stop(self):
        stop_process(self.proc)
        self._log.close()
