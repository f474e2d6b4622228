"""/metrics of the real daemon after it served a known mix of requests: every documented metric
with its documented type and labels (docs/metrics.md), `promtool check metrics` clean, and the
counters equal to what this test did."""
import subprocess
import time
import grpc
import pytest

import ovid_client
from conftest import ROOT, make_request
from daemon import DEVICE, metrics_doc


DOC = ROOT / "docs" / "metrics.md"


def test_metrics_match_the_documented_table_and_what_the_daemon_did(start_daemon, tmp_path):
    daemon = start_daemon("--fault-oom-at-step=3")
    assert daemon.metrics_port, daemon.log()
    with ovid_client.OvidClient(daemon.address) as client:
        for seed in (1, 2):
            client.generate(make_request(client, seed=seed, steps=2))
        with pytest.raises(ovid_client.OvidError) as oom:
            client.generate(make_request(client, steps=4))
        assert oom.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        failed_steps = client.get_job(oom.value.job_id).progress.step
        with pytest.raises(ovid_client.OvidError) as invalid:
            client.generate(make_request(client, steps=0))
        assert invalid.value.code == grpc.StatusCode.INVALID_ARGUMENT
        client.list_jobs()
        variant = client.model().config.variant

    # Observers (metrics, the job log) hear of a job's end just after its client got the last
    # event, and a streamed RPC is counted in its OnDone, which gRPC may run after the client has
    # its status: the final counts may take a moment to show.
    deadline = time.monotonic() + 10
    while True:
        text = daemon.scrape()
        v = metrics_doc.sample_values(text)
        done = metrics_doc.value(v, "ovid_request_duration_seconds_count", outcome="failed")
        generate_rpcs = sum(value for (name, labels), value in v.items()
                            if name == "ovid_grpc_requests_total"
                            and ("method", "Generate") in labels)
        if done == 1 and metrics_doc.value(v, "ovid_requests_running") == 0 and generate_rpcs == 4:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.1)
    (tmp_path / "metrics.txt").write_text(text)
    # This daemon serves plaintext: no certificate to expire (test_security checks the gauge),
    # and has no tokens, so no tenants (test_security checks their series).
    assert metrics_doc.mismatches(
        text, DOC, allow_missing=["ovid_tls_certificate_expiry_timestamp_seconds",
                                  "ovid_tenant_jobs_total", "ovid_tenant_run_seconds_total",
                                  "ovid_tenant_queue_wait_seconds"]) == []
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    get = lambda name, **labels: metrics_doc.value(v, name, **labels)  # noqa: E731
    assert get("ovid_requests_total", outcome="succeeded") == 2
    assert get("ovid_requests_total", outcome="failed") == 1
    assert get("ovid_requests_total", outcome="rejected") == 1
    assert get("ovid_requests_total", outcome="cancelled") == 0
    assert get("ovid_request_failures_total", reason="device_oom") == 1
    assert get("ovid_request_failures_total", reason="invalid_argument") == 1
    assert get("ovid_request_failures_total", reason="queue_full") == 0
    assert get("ovid_grpc_requests_total", method="Generate", code="OK") == 2
    assert get("ovid_grpc_requests_total", method="Generate", code="RESOURCE_EXHAUSTED") == 1
    assert get("ovid_grpc_requests_total", method="Generate", code="INVALID_ARGUMENT") == 1
    assert get("ovid_grpc_requests_total", method="ListJobs", code="OK") == 1
    assert get("ovid_queue_wait_seconds_count") == 3
    assert get("ovid_request_duration_seconds_count", outcome="succeeded") == 2
    assert get("ovid_request_duration_seconds_count", outcome="failed") == 1
    assert get("ovid_stage_duration_seconds_count", stage="denoise") == 2
    assert get("ovid_denoise_step_seconds_count") == 2 * 2 + failed_steps
    assert get("ovid_queue_depth") == 0 and get("ovid_requests_running") == 0
    # The limits those are measured against: the defaults (16 queued, 1 worker); no VRAM budget
    # on the CPU, the GPU's free memory less 5% on a GPU.
    assert get("ovid_queue_capacity") == 16 and get("ovid_workers") == 1
    assert (get("ovid_vram_budget_bytes") == 0) == (DEVICE == "cpu")
    assert get("ovid_weights_resident_bytes", type="q4_K") > 0
    assert get("ovid_weights_bf16_equivalent_bytes") > get("ovid_weights_resident_bytes", type="q4_K")
    device = DEVICE if DEVICE == "cpu" or ":" in DEVICE else f"{DEVICE}:0"
    assert get("ovid_model_info", variant=variant, weight_mode="lazy", batch_guidance="auto",
               device=device) == 1
    assert (get("ovid_gpu_memory_total_bytes") == 0) == (DEVICE == "cpu")
