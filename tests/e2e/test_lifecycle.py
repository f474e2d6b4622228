"""The fault hooks and the daemon's life: OOM inside a job, a sticky device error, SIGTERM
drain, a drain that runs out of time, bad flags and a bad model file."""
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import ovid_client
from conftest import make_request
from daemon import DEVICE, OVID, SERVICE
from ovid_client import pb


def _generate_in_background(client, request):
    """Starts client.generate(request) on a thread and returns once the job is RUNNING; the
    thread's `outcome` dict gets "result" or "error"."""
    outcome = {}

    def run():
        try:
            outcome["result"] = client.generate(request)
        except ovid_client.OvidError as e:
            outcome["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while not client.list_jobs(states=[pb.JOB_STATE_RUNNING]):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    return worker, outcome


def test_oom_inside_a_job_fails_that_job_and_the_server_keeps_serving(start_daemon):
    daemon = start_daemon("--fault-oom-at-step=2")
    with ovid_client.OvidClient(daemon.address) as client:
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(make_request(client, steps=3))
        assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "out of" in err.value.message and "memory" in err.value.message
        failed = client.get_job(err.value.job_id)
        assert failed.state == pb.JOB_STATE_FAILED
        # Jobs that stop before the faulty step still run on the same daemon.
        for seed in range(3):
            assert client.generate(make_request(client, seed=seed, steps=1)).final.seed == seed
    assert daemon.health(SERVICE) == "SERVING"


def test_a_sticky_device_error_turns_not_ready_and_exits_non_zero(start_daemon):
    daemon = start_daemon("--fault-device-error-at-step=1")
    with ovid_client.OvidClient(daemon.address) as client:
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(make_request(client, steps=2))
        assert err.value.code == grpc.StatusCode.INTERNAL
    assert daemon.wait_exit(60) == 1
    assert "fatal" in daemon.log()


def test_sigterm_drains_running_jobs_and_exits_zero(start_daemon):
    daemon = start_daemon("--fault-step-delay-ms=150", "--drain-timeout=60s")
    with ovid_client.OvidClient(daemon.address) as client:
        worker, outcome = _generate_in_background(client, make_request(client, steps=8))
        daemon.signal(signal.SIGTERM)
        # Not ready at once, new work refused, the running job still finishes.
        deadline = time.monotonic() + 10
        while daemon.health(SERVICE) != "NOT_SERVING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(make_request(client, steps=1))
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
        # GetModel still answers: the model is the one loaded until the drain ends (the proto's
        # UNAVAILABLE covers it only while loading).
        assert client.model().config.variant
        worker.join(60)
    assert "result" in outcome, outcome.get("error")
    assert outcome["result"].final.parameters.steps == 8
    assert daemon.wait_exit(60) == 0
    assert "draining" in daemon.log()


def test_a_job_without_progress_stops_the_daemon_with_status_1(start_daemon):
    # A worker that never returns (one step of 10 minutes stands for a kernel that hangs): past
    # --job-stall-timeout the daemon logs the job, turns not ready and drains; the drain cannot
    # join that worker, so the daemon exits with status 1 --drain-timeout + 15 s later, and its
    # supervisor starts a fresh one.
    daemon = start_daemon("--fault-step-delay-ms=600000", "--job-stall-timeout=2s",
                          "--drain-timeout=1s")
    with ovid_client.OvidClient(daemon.address) as client:
        worker, outcome = _generate_in_background(client, make_request(client, steps=2))
        job_id = client.list_jobs(states=[pb.JOB_STATE_RUNNING])[0].job_id
        started = time.monotonic()
        deadline = started + 15
        while daemon.health(SERVICE) != "NOT_SERVING":
            assert time.monotonic() < deadline, "the stalled job was not noticed"
            time.sleep(0.1)
        assert daemon.wait_exit(60) == 1
        assert time.monotonic() - started < 40
        worker.join(60)
    assert "error" in outcome  # its stream ended with the process
    log = daemon.log()
    stalled = [line for line in log.splitlines() if "job stalled" in line]
    assert len(stalled) == 1, log
    assert job_id in stalled[0] and "(none reported)" not in stalled[0]
    assert "exiting without a clean shutdown" in log
    assert "--job-stall-timeout" in log


def test_old_connections_are_asked_to_reconnect_and_streams_in_progress_keep_theirs(start_daemon):
    # --max-connection-age: the server sends GOAWAY to a connection that old, so a client
    # reconnects (and a Service spreads it over the replicas) instead of staying pinned to one
    # pod; a call in progress keeps its connection to its end, however long the job.
    daemon = start_daemon("--max-connection-age=1s", "--fault-step-delay-ms=400")
    with ovid_client.OvidClient(daemon.address) as client:
        states = []
        client._channel.subscribe(states.append, try_to_connect=False)  # the client's channel
        started = time.monotonic()
        result = client.generate(make_request(client, steps=8))  # ~3.5 s on one connection
        assert time.monotonic() - started > 3
        assert result.final.parameters.steps == 8
        ready_at = states.index(grpc.ChannelConnectivity.READY)
        # The connection outlived its age during the stream; once the stream ended (or now, idle)
        # the server asked the client to leave it.
        deadline = time.monotonic() + 15
        while grpc.ChannelConnectivity.IDLE not in states[ready_at + 1:]:
            assert time.monotonic() < deadline, states
            time.sleep(0.05)
        assert client.model().config.variant  # the next call reconnects


def test_metrics_scraped_through_a_shutdown_never_outlive_the_model(start_daemon):
    # The metrics server answers until the process exits, after the model is gone: a scrape
    # during shutdown must not read the freed model's VRAM figures. Scraped without pause
    # through SIGTERM, a few times, since the window is short.
    for _ in range(3):
        daemon = start_daemon()
        url = f"http://127.0.0.1:{daemon.metrics_port}/metrics"
        stop = threading.Event()
        seen = {"scrapes": 0, "vram": 0}

        def scrape_until_stopped():
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(url, timeout=5) as reply:
                        text = reply.read().decode()
                except OSError:
                    continue  # the listener is gone: the process is exiting
                seen["scrapes"] += 1
                seen["vram"] += "ovid_weights_bf16_equivalent_bytes" in text

        scrapers = [threading.Thread(target=scrape_until_stopped) for _ in range(4)]
        for t in scrapers:
            t.start()
        deadline = time.monotonic() + 10
        while seen["vram"] == 0:
            assert time.monotonic() < deadline, "no scrape showed the model's VRAM gauges"
            time.sleep(0.01)
        daemon.signal(signal.SIGTERM)
        code = daemon.wait_exit(60)
        stop.set()
        for t in scrapers:
            t.join(10)
        assert code == 0, daemon.log()
        assert "stopped" in daemon.log()


def test_a_signal_during_the_model_load_exits_at_once(start_daemon):
    # Nothing can be queued before ready, so there is nothing to drain: the process must not
    # finish a slow load (here a minute) and outlast a pod's grace period.
    daemon = start_daemon("--fault-load-delay-ms=60000", ready=False)
    assert daemon.health() == "SERVING"  # the gRPC server is up; the model service is not
    assert daemon.health(SERVICE) == "NOT_SERVING"
    start = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(10) == 0
    assert time.monotonic() - start < 5
    log = daemon.log()
    assert "stopped before ready" in log and "SIGTERM" in log, log
    assert "INFO ready" not in log and "model loaded" not in log, log


def test_a_drain_past_its_timeout_cancels_what_is_left(start_daemon):
    daemon = start_daemon("--fault-step-delay-ms=200", "--drain-timeout=1s")
    with ovid_client.OvidClient(daemon.address) as client:
        worker, outcome = _generate_in_background(client, make_request(client, steps=200))
        started = time.monotonic()
        daemon.signal(signal.SIGINT)
        worker.join(60)
        assert daemon.wait_exit(60) == 0
        assert time.monotonic() - started < 20
    # UNAVAILABLE, the proto's code for a draining server (retry elsewhere), not CANCELLED
    assert outcome["error"].code == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in outcome["error"].message


def test_bad_flags_and_a_bad_model_file_exit_with_a_message(tmp_path):
    bad_flag = subprocess.run([str(OVID), "--model=x.gguf", "--workers=0"], capture_output=True,
                              text=True, timeout=60)
    assert bad_flag.returncode == 2
    assert "--workers" in bad_flag.stderr
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + b"\x00" * 16)
    bad_model = subprocess.run([str(OVID), f"--model={garbage}", "--listen=127.0.0.1:0",
                                "--metrics-listen=127.0.0.1:0", "--device=cpu"],
                               capture_output=True, text=True, timeout=120)
    assert bad_model.returncode == 1
    assert "garbage.gguf" in bad_model.stderr
    help_text = subprocess.run([str(OVID), "--help"], capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0
    for flag in ("--model", "--listen", "--metrics-listen", "--health-address", "--dequant",
                 "--vram-budget", "--max-queue", "--workers", "--drain-timeout", "--job-ttl",
                 "--tls-cert", "--tls-key", "--tls-client-ca", "--auth-token-file",
                 "--log-format", "OVID_MAX_QUEUE"):
        assert flag in help_text.stdout


def test_environment_twins_configure_the_daemon_and_json_logs(start_daemon):
    daemon = start_daemon(env={"OVID_MAX_QUEUE": "3", "OVID_LOG_FORMAT": "json"})
    assert '"msg":"ready"' in daemon.log()
    assert '"max_queue":3' in daemon.log()


def test_a_failed_load_exits_even_while_a_client_watches_health(start_daemon, tmp_path):
    # A client with client-side health checking keeps a Watch stream open. The daemon used to wait
    # for every open call before exiting after a failed load: until the watch ended, or forever.
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + b"\x00" * 16)
    daemon = start_daemon("--fault-load-delay-ms=1500", model=garbage, ready=False)
    channel = grpc.insecure_channel(daemon.address)
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=SERVICE))
    assert health_pb2.HealthCheckResponse.ServingStatus.Name(next(watch).status) == "NOT_SERVING"
    try:
        assert daemon.wait_exit(15) == 1
        assert "cannot load the model" in daemon.log()
    finally:
        watch.cancel()
        channel.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_busy_api_or_health_port_is_refused(start_daemon, tmp_path):
    # gRPC's default SO_REUSEPORT let a second daemon share a busy port (and take half of its
    # connections), and a health address on the API port answer API calls with UNIMPLEMENTED.
    first = start_daemon()
    second = subprocess.run([str(OVID), "--model=unused.gguf", f"--listen={first.address}",
                             "--metrics-listen=127.0.0.1:0", "--device=cpu"],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 2, second.stderr
    assert "cannot listen" in second.stderr
    port = _free_port()
    shared = subprocess.run([str(OVID), "--model=unused.gguf", f"--listen=0.0.0.0:{port}",
                             f"--health-address=127.0.0.1:{port}",
                             "--metrics-listen=127.0.0.1:0", "--device=cpu"],
                            capture_output=True, text=True, timeout=60)
    assert shared.returncode == 2, shared.stderr
    assert "cannot listen" in shared.stderr and "health" in shared.stderr


def test_the_fused_dispatch_is_measured_on_a_gpu_and_fixed_on_request(start_daemon):
    # On a GPU the lazy layers' fused-kernel limits are timed at load, one log line per weight
    # shape; the CPU has no fused kernel to time, and --fused-dispatch=fixed skips the timing.
    measured = start_daemon(env={"OVID_LOG_FORMAT": "json"})
    log = measured.log()
    if DEVICE == "cpu":
        assert '"fused_dispatch":"fixed"' in log, log
        assert "fused dispatch measured" not in log, log
    else:
        assert '"fused_dispatch":"measured"' in log, log
        assert "fused dispatch measured on this card" in log, log
        assert "us fused/dequant+gemm/bf16" in log, log
    fixed = start_daemon("--fused-dispatch=fixed", env={"OVID_LOG_FORMAT": "json"})
    log = fixed.log()
    assert '"fused_dispatch":"fixed"' in log, log
    assert "fused dispatch measured" not in log, log
