"""/metrics of ovid-metrics-selftest (ServerMetrics with fake sources and a fixed script of
observer calls) against docs/metrics.md, promtool, and the numbers the script produces.

The expected numbers below restate the script in tests/server/metrics_selftest.cc; change both
together."""
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from metrics_doc import mismatches, parse_doc, sample_values, value

ROOT = Path(os.environ.get("OVID_ROOT", Path(__file__).resolve().parents[2]))
BIN = Path(os.environ.get("OVID_BIN", ROOT / "build" / "bin"))
DOC = ROOT / "docs" / "metrics.md"
PROMTOOL = "/usr/bin/promtool"
GIB = 2 ** 30


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


@pytest.fixture(scope="module")
def text():
    proc = subprocess.Popen([BIN / "ovid-metrics-selftest"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("port "), f"no port line: {line!r} {proc.stderr.read()}"
        port = int(line.split()[1])
        assert port > 0
        body = scrape(port)
        # A second scrape must be served too (the server keeps running between scrapes).
        assert "ovid_requests_total" in scrape(port)
    finally:
        proc.stdin.close()  # the selftest serves until its stdin closes
        rc = proc.wait(timeout=30)
    assert rc == 0, proc.stderr.read()
    return body


@pytest.fixture(scope="module")
def values(text):
    return sample_values(text)


def test_the_scrape_matches_the_documented_table(text):
    assert mismatches(text, DOC) == []


def test_promtool_accepts_the_scrape(text):
    if not (os.access(PROMTOOL, os.X_OK) or shutil.which("promtool")):
        pytest.fail(f"{PROMTOOL} not found: run scripts/install-deps.sh (Debian package "
                    "'prometheus')")
    tool = PROMTOOL if os.access(PROMTOOL, os.X_OK) else shutil.which("promtool")
    out = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_request_counters_equal_the_script(values):
    outcomes = {"succeeded": 5, "failed": 2, "cancelled": 2, "rejected": 8}
    for outcome, n in outcomes.items():
        assert value(values, "ovid_requests_total", outcome=outcome) == n, outcome
    reasons = {"queue_full": 3, "vram_budget": 2, "invalid_argument": 1, "unavailable": 1,
               "unauthenticated": 1, "device_oom": 1, "cancelled": 1, "deadline_exceeded": 1,
               "internal": 1, "failed_precondition": 0}
    for reason, n in reasons.items():
        assert value(values, "ovid_request_failures_total", reason=reason) == n, reason
    # The documented invariant: every unsuccessful request under exactly one reason.
    assert sum(reasons.values()) == sum(n for o, n in outcomes.items() if o != "succeeded")


def test_tenant_counters_equal_the_script(values):
    """The script's token file names team-a and team-b; one of team-a's jobs succeeds after
    running 50 ms. team-b's series are there at 0, so rate() will count its first job."""
    got = {(name, tuple(sorted(labels))): v for (name, labels), v in values.items()
           if name.startswith("ovid_tenant_")}
    jobs = {dict(labels)["tenant"] + "/" + dict(labels)["outcome"]: v
            for (name, labels), v in got.items() if name == "ovid_tenant_jobs_total"}
    assert jobs == {"team-a/succeeded": 1, "team-a/failed": 0, "team-a/cancelled": 0,
                    "team-b/succeeded": 0, "team-b/failed": 0, "team-b/cancelled": 0}
    assert 0.04 <= value(values, "ovid_tenant_run_seconds_total", tenant="team-a") < 10
    assert value(values, "ovid_tenant_run_seconds_total", tenant="team-b") == 0
    # team-a's job waited 2 s for its worker; team-b's histogram is there, empty.
    assert value(values, "ovid_tenant_queue_wait_seconds_count", tenant="team-a") == 1
    assert value(values, "ovid_tenant_queue_wait_seconds_sum", tenant="team-a") == 2
    assert value(values, "ovid_tenant_queue_wait_seconds_bucket", tenant="team-a", le="1") == 0
    assert value(values, "ovid_tenant_queue_wait_seconds_bucket", tenant="team-a", le="5") == 1
    assert value(values, "ovid_tenant_queue_wait_seconds_count", tenant="team-b") == 0


def test_tls_expiry_is_the_latest_certificate_of_the_script(values):
    assert value(values, "ovid_tls_certificate_expiry_timestamp_seconds") == 1924992000


def test_rpc_counters_equal_the_script(values):
    expected = {("Generate", "OK"): 5, ("Generate", "RESOURCE_EXHAUSTED"): 5,
                ("GetJob", "OK"): 2, ("CancelJob", "OK"): 1, ("other", "OK"): 1}
    got = {(dict(labels)["method"], dict(labels)["code"]): v
           for (name, labels), v in values.items() if name == "ovid_grpc_requests_total"}
    assert {k: v for k, v in got.items() if v} == expected
    # The rest are there at 0 (rate() counts a method's first call only so): 6 methods x 17 codes,
    # plus the one "other" series the script made.
    assert len(got) == 6 * 17 + 1


def test_histograms_equal_the_script(values):
    assert value(values, "ovid_queue_wait_seconds_count") == 8
    assert value(values, "ovid_queue_wait_seconds_sum") == pytest.approx(10.5)
    # 5 jobs x 10 steps + the OOM job's 4 steps, every step 3 s.
    assert value(values, "ovid_denoise_step_seconds_count") == 54
    assert value(values, "ovid_denoise_step_seconds_sum") == pytest.approx(162)
    assert value(values, "ovid_denoise_step_seconds_bucket", le=2) == 0
    assert value(values, "ovid_denoise_step_seconds_bucket", le=3) == 54
    for stage, seconds in {"text_encode": 1.0, "denoise": 30.0, "video_decode": 12.0,
                           "audio_decode": 2.0, "mux": 0.5}.items():
        assert value(values, "ovid_stage_duration_seconds_count", stage=stage) == 5
        assert value(values, "ovid_stage_duration_seconds_sum", stage=stage) == \
            pytest.approx(5 * seconds)
    # Per-stage peaks as the fake engine reported them; mux's 0 is not observed.
    for stage, (le, below) in {"text_encode": (12 * GIB, 8 * GIB), "denoise": (12 * GIB, 8 * GIB),
                               "video_decode": (24 * GIB, 16 * GIB),
                               "audio_decode": (12 * GIB, 8 * GIB)}.items():
        assert value(values, "ovid_stage_peak_gpu_memory_bytes_count", stage=stage) == 5
        assert value(values, "ovid_stage_peak_gpu_memory_bytes_bucket", stage=stage, le=le) == 5
        assert value(values, "ovid_stage_peak_gpu_memory_bytes_bucket", stage=stage,
                     le=below) == 0
    assert value(values, "ovid_stage_peak_gpu_memory_bytes_count", stage="mux") == 0
    durations = {"succeeded": (5, 250), "failed": (2, 21), "cancelled": (2, 605)}
    for outcome, (count, total) in durations.items():
        assert value(values, "ovid_request_duration_seconds_count", outcome=outcome) == count
        assert value(values, "ovid_request_duration_seconds_sum", outcome=outcome) == \
            pytest.approx(total)
    assert value(values, "ovid_request_peak_gpu_memory_bytes_count") == 5
    assert value(values, "ovid_request_peak_gpu_memory_bytes_bucket", le=16 * GIB) == 0
    assert value(values, "ovid_request_peak_gpu_memory_bytes_bucket", le=24 * GIB) == 5


def test_gauges_show_the_fake_sources(values):
    expected = {"ovid_queue_depth": 3, "ovid_requests_running": 1, "ovid_queue_capacity": 16,
                "ovid_workers": 2, "ovid_vram_budget_bytes": 70 * GIB,
                "ovid_vram_reserved_bytes": 6 * GIB,
                "ovid_weights_bf16_equivalent_bytes": 22 * GIB,
                "ovid_dequant_workspace_bytes": 256 * 2 ** 20, "ovid_bf16_cache_bytes": 0,
                "ovid_torch_allocated_bytes": 2 * GIB, "ovid_torch_reserved_bytes": 3 * GIB,
                "ovid_torch_peak_allocated_bytes": 9 * GIB,
                "ovid_gpu_memory_total_bytes": 80 * GIB, "ovid_gpu_memory_used_bytes": 12 * GIB}
    for name, v in expected.items():
        assert value(values, name) == v, name
    assert value(values, "ovid_weights_resident_bytes", type="q4_K") == 5 * GIB
    assert value(values, "ovid_weights_resident_bytes", type="q6_K") == GIB
    assert value(values, "ovid_weights_resident_bytes", type="bf16") == 512 * 2 ** 20
    assert value(values, "ovid_model_info", variant="720x720_5s", weight_mode="lazy",
                 batch_guidance="auto", device="cuda:0") == 1
    assert value(values, "ovid_build_info", version="0.1.0-selftest") == 1


# The checker itself: a scrape that breaks each rule is reported, rule by rule.
def test_the_checker_reports_every_kind_of_mismatch(text):
    broken = text.replace("# TYPE ovid_queue_depth gauge", "# TYPE ovid_queue_depth counter")
    broken = broken.replace('ovid_requests_total{outcome="rejected"}',
                            'ovid_requests_total{outcome="refused"}')
    broken = broken.replace('ovid_denoise_step_seconds_bucket{le="60"}',
                            'ovid_denoise_step_seconds_bucket{le="61"}')
    broken = broken.replace('ovid_stage_duration_seconds_count{stage="mux"}',
                            'ovid_stage_duration_seconds_count{phase="mux"}')
    broken = "\n".join(line for line in broken.splitlines()
                       if not line.startswith(("ovid_build_info", "# HELP ovid_build_info",
                                               "# TYPE ovid_build_info")))
    broken += "\n# HELP ovid_secret_total Not in the doc.\n# TYPE ovid_secret_total counter\n" \
              "ovid_secret_total 1\n"
    problems = "\n".join(mismatches(broken, DOC))
    assert "ovid_queue_depth" in problems and "documented gauge" in problems, problems
    assert "outcome='refused' is not a documented value" in problems, problems
    assert "ovid_denoise_step_seconds: buckets" in problems, problems
    assert "has labels ['phase'], documented ['stage']" in problems, problems
    assert "ovid_build_info: documented but not exposed" in problems, problems
    assert "ovid_secret_total: exposed but not in metrics.md" in problems, problems
    assert mismatches(broken, DOC, prefix="nothing_", allow_missing=parse_doc(DOC)) == []


def test_the_doc_table_parses_as_documented():
    doc = parse_doc(DOC)
    assert doc["ovid_requests_total"].type == "counter"
    assert doc["ovid_requests_total"].labels == {
        "outcome": {"succeeded", "failed", "cancelled", "rejected"}}
    assert doc["ovid_model_info"].labels["variant"] is None  # "any"
    assert doc["ovid_request_peak_gpu_memory_bytes"].buckets[0] == 256 * 2 ** 20
    assert doc["ovid_request_peak_gpu_memory_bytes"].buckets[-1] == 128 * GIB
    assert doc["ovid_queue_depth"].buckets is None
