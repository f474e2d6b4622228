"""A real Prometheus server (Debian's /usr/bin/prometheus) for the live check: a temporary config
and TSDB, listening on a free loopback port, scraping every second; plus a tiny HTTP exporter
serving fixed text, standing in for exporters that cannot run here (kube-state-metrics,
dcgm-exporter)."""
import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

# The end-to-end helpers (tests/e2e) stop processes the same way for daemons and Prometheus.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from daemon import stop_process  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StaticExporter:
    """Serves `text` at http://127.0.0.1:PORT/metrics until stop()."""

    def __init__(self, text):
        body = text.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Prometheus:
    """`scrape_configs` and `rule_files` go into the config as given; every scrape and rule
    evaluation runs each second."""

    def __init__(self, workdir, scrape_configs, rule_files=(), timeout=60):
        exe = shutil.which("prometheus")
        if exe is None:
            raise AssertionError("prometheus not found: scripts/install-deps.sh installs Debian's "
                                 "prometheus package")
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "900ms",
                             "evaluation_interval": "1s"},
                  "rule_files": [str(f) for f in rule_files],
                  "scrape_configs": scrape_configs}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "prometheus.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [exe, f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time=1h"],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus not ready within {timeout} s:\n{self.log()}")
            time.sleep(0.2)

    def log(self):
        return self.log_path.read_text()

    def api(self, path, **params):
        """GET /api/v1/PATH; returns the JSON reply whether the status is success or error."""
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as reply:
                return json.load(reply)
        except urllib.error.HTTPError as e:  # 400/422: a bad query, with Prometheus's reason
            return json.load(e)

    def query(self, expr):
        return self.api("query", query=expr, time=f"{time.time():.3f}")

    def wait_for(self, expr, predicate, timeout=30, what=None):
        """Polls an instant query until predicate(result list) holds; returns the result."""
        deadline = time.monotonic() + timeout
        reply = None
        while time.monotonic() < deadline:
            reply = self.query(expr)
            if reply.get("status") == "success" and predicate(reply["data"]["result"]):
                return reply["data"]["result"]
            time.sleep(0.5)
        raise AssertionError(f"{what or expr}: not seen within {timeout} s; last reply {reply}")

    def stop(self):
        stop_process(self.proc)
        self._log.close()
