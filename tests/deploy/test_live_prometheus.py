"""The live check: a real Prometheus scrapes real ovid daemons that have served requests, loads
deploy/prometheus/ovid-rules.yaml, and runs every query deploy/ ships through its HTTP API: the
dashboard's panels and variables, the recording and alerting rules, and the prometheus-adapter
rule the HPA scales on. Each must parse, and each must return data where the daemons produced it.

Two daemons (CPU, the tiny Q4_K_M model of tests/e2e) play two replicas of one Deployment, with
the target labels prometheus-operator would add (namespace, pod, container):
  ovid-0  --max-queue=1 and slow steps: a burst of requests both succeeds and fills the queue
          (queue_full rejections, queue wait, stage and step times, request durations), and
          a job limited to 0.2 s in the queue times out there (queue_timeout);
  ovid-1  --fault-oom-at-step=1: every job fails with a device out-of-memory error; it serves
          TLS with a certificate that has two days left (the expiry gauge and its alert).
A static exporter stands in for kube-state-metrics (one of two replicas unavailable) and
dcgm-exporter (framebuffer used by ovid-0), which cannot run here. At the end ovid-1 is stopped,
and OvidDown must see it.

What returns nothing on purpose, because a CPU daemon reports no GPU (total memory 0, no per-job
peak): listed in EXPECTED below, and held to it, so a change in the daemon or the queries that
alters it shows up here."""
import json
import math
import re
import subprocess
import sys
import threading
import time

import grpc
import pytest

from sources import (ROOT, RULES, adapter_rules, dashboard, dashboard_queries, doc_queries,
                     rule_queries)
import promql
from prometheus_server import Prometheus, StaticExporter

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from conftest import make_request, tiny_model  # noqa: E402,F401 (tiny_model is a fixture)
from daemon import OVID, Daemon  # noqa: E402
import ovid_client  # noqa: E402

NAMESPACE = "ovid"
PODS = ["ovid-0", "ovid-1"]
# What Grafana sends for "All" of a multi-value variable, and a window covering the whole run.
GRAFANA_VARS = dict(namespace=NAMESPACE, pod="(ovid-0|ovid-1)", rate_interval="2m", range_="10m")
STAND_INS = f"""# kube-state-metrics: the Deployment wants 2 replicas, 1 is available, both are updated, and
# its rollout has passed its progress deadline
kube_deployment_spec_replicas{{namespace="{NAMESPACE}",deployment="ovid"}} 2
kube_deployment_status_replicas_available{{namespace="{NAMESPACE}",deployment="ovid"}} 1
kube_deployment_status_replicas_updated{{namespace="{NAMESPACE}",deployment="ovid"}} 2
kube_deployment_status_condition{{namespace="{NAMESPACE}",deployment="ovid",condition="Progressing",status="true"}} 0
kube_deployment_status_condition{{namespace="{NAMESPACE}",deployment="ovid",condition="Progressing",status="false"}} 1
# dcgm-exporter with pod mapping: the GPU of ovid-0 (MiB)
DCGM_FI_DEV_FB_USED{{gpu="0",UUID="GPU-0",namespace="{NAMESPACE}",pod="ovid-0",container="ovid"}} 1024
"""

# "data": a sample with a finite value; "nan": samples, all NaN (a quantile over no
# observations); "empty": no sample. Everything not listed must give data.
CPU_HAS_NO_GPU = "a CPU daemon reports ovid_gpu_memory_total_bytes 0 and observes no per-job peak"
# The daemons take no tokens, so no tenants; tests/e2e/test_security.py checks their series.
NO_TENANTS = "the daemons have no token file with tenants"
EXPECTED = {
    "dashboard: GPU memory used [A]": ("empty", CPU_HAS_NO_GPU),
    "dashboard: Peak VRAM by stage (p99) [A]": ("nan", CPU_HAS_NO_GPU),
    "dashboard: Largest per-request peak VRAM [A]": ("empty", CPU_HAS_NO_GPU),
    "dashboard: Device memory: ovid, the driver and DCGM [G]": ("empty", "a CPU daemon has no VRAM "
                                                                "budget (0)"),
    "record: ovid:gpu_memory_used:ratio": ("empty", CPU_HAS_NO_GPU),
    "record: ovid:gpu_memory_in_use:ratio": ("empty", CPU_HAS_NO_GPU),
    "alert: OvidVramNearLimit": ("empty", CPU_HAS_NO_GPU),
    "alert: OvidRequestPeakVramNearLimit": ("empty", CPU_HAS_NO_GPU),
    "alert: OvidDown": ("empty", "both daemons are up; checked again after ovid-1 stops"),
    "dashboard: Worker time by tenant [A]": ("empty", NO_TENANTS),
    "dashboard: Jobs by tenant and outcome [A]": ("empty", NO_TENANTS),
    "dashboard: Queue wait by tenant (p90) [A]": ("empty", NO_TENANTS),
    "alert: OvidQueueWaitHigh": ("empty", "the daemons' jobs start at once"),
    "alert: OvidTlsCertificateExpired": ("empty", "ovid-1's certificate has two days left"),
    "alert: OvidJobStalled": ("empty", "no job runs once the traffic is done; its parts are "
                              "checked in test_alerts_see_the_faults"),
    "alert: OvidRestarted": ("empty", "neither daemon restarted; its series is checked in "
                             "test_alerts_see_the_faults"),
}


def outcome(result):
    if not result:
        return "empty"
    values = [float(r["value"][1]) for r in result]
    return "data" if any(math.isfinite(v) for v in values) else "nan"


def burst(address, count, steps, tls_ca=None):
    """`count` generate calls at once; returns [GenerateResult or OvidError]."""
    results = [None] * count
    with ovid_client.OvidClient(address, tls_ca=tls_ca) as client:
        requests = [make_request(client, seed=10 + i, steps=steps) for i in range(count)]
        start = threading.Barrier(count)

        def run(i):
            start.wait()
            try:
                results[i] = client.generate(requests[i])
            except ovid_client.OvidError as e:
                results[i] = e

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
    return results


def queue_timeout(address):
    """One job holds the worker (3 steps) while a second, limited to 0.2 s in the queue, times
    out there: [the first's GenerateResult, the second's OvidError]."""
    with ovid_client.OvidClient(address) as client:
        holder = [None]

        def hold():
            holder[0] = client.generate(make_request(client, seed=30, steps=3))

        thread = threading.Thread(target=hold)
        thread.start()
        deadline = time.monotonic() + 60
        while not any(j.state == ovid_client.pb.JOB_STATE_RUNNING for j in client.list_jobs()):
            assert time.monotonic() < deadline, "the holding job never ran"
            time.sleep(0.02)
        try:
            client.generate(make_request(client, seed=31, steps=1, max_queue_seconds=0.2))
            timed_out = None
        except ovid_client.OvidError as e:
            timed_out = e
        thread.join(180)
    return [holder[0], timed_out]


@pytest.fixture(scope="module")
def live(request, tmp_path_factory):
    for binary in (OVID, OVID.parent / "ovid-gguf", OVID.parent / "ovidctl"):
        if not binary.exists():
            pytest.fail(f"{binary} is not built: the live check runs the real daemon on a model "
                        f"that ovid-gguf makes (ninja ovid ovid-gguf ovidctl; OVID_BIN names the folder)")
    tiny_model = request.getfixturevalue("tiny_model")  # after the check: it runs ovid-gguf
    tmp = tmp_path_factory.mktemp("live")
    started = []
    try:
        busy = Daemon(tiny_model, tmp, ["--max-queue=1", "--workers=1", "--fault-step-delay-ms=400"])
        started.append(busy)
        # ovid-1 serves TLS with a certificate that has two days left, so that its expiry gauge
        # and OvidTlsCertificateExpiresSoon have a series (its probes use a plaintext port).
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=ovid-live", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", tmp / "tls.key", "-out", tmp / "tls.crt"],
                       check=True, capture_output=True)
        oom = Daemon(tiny_model, tmp, ["--fault-oom-at-step=1", f"--tls-cert={tmp / 'tls.crt'}",
                                       f"--tls-key={tmp / 'tls.key'}",
                                       "--health-address=127.0.0.1:0"], ready=False)
        started.append(oom)
        health_port = oom.wait_for_log(r"health listening .*\bport=(\d+)", 60)
        oom.wait_ready(address=f"127.0.0.1:{health_port}")
        for d in started:
            assert d.metrics_port, f"no metrics port in the log:\n{d.log()}"
        stand_ins = StaticExporter(STAND_INS)
        labels = {"namespace": NAMESPACE, "container": "ovid"}
        prometheus = Prometheus(tmp, rule_files=[RULES], scrape_configs=[
            {"job_name": "ovid", "static_configs": [
                {"targets": [f"127.0.0.1:{d.metrics_port}"], "labels": dict(labels, pod=pod)}
                for d, pod in zip(started, PODS)]},
            # honor_labels keeps the exporters' own namespace/pod labels, as their monitors do
            {"job_name": "stand-ins", "honor_labels": True,
             "static_configs": [{"targets": [f"127.0.0.1:{stand_ins.port}"]}]},
        ])
        started.append(prometheus)
        # Scrapes before the traffic, so every counter has its 0 in the TSDB.
        prometheus.wait_for("up == 1", lambda r: len(r) == 3, what="three healthy targets")

        served = burst(busy.address, count=4, steps=3)
        served += burst(busy.address, count=1, steps=2)
        served += queue_timeout(busy.address)
        failed = burst(oom.address, count=2, steps=2, tls_ca=str(tmp / "tls.crt"))
        succeeded = [r for r in served if isinstance(r, ovid_client.GenerateResult)]
        rejected = [r for r in served if isinstance(r, ovid_client.OvidError)]
        assert succeeded and rejected, f"the burst must both succeed and fill the queue: {served}"
        timed_out = [e for e in rejected if e.code == grpc.StatusCode.DEADLINE_EXCEEDED]
        assert len(timed_out) == 1 and "max_queue_seconds" in timed_out[0].message, rejected
        rejected = [e for e in rejected if e not in timed_out]
        assert rejected and all("queue full" in e.message for e in rejected), rejected
        assert all(isinstance(r, ovid_client.OvidError) for r in failed), failed

        # Prometheus has seen it all once the counters it scraped match what the clients saw.
        prometheus.wait_for(
            'sum(ovid_requests_total{outcome="succeeded"})',
            lambda r: r and float(r[0]["value"][1]) == len(succeeded), what="the successes")
        prometheus.wait_for(
            'sum(ovid_request_failures_total{reason="device_oom"})',
            lambda r: r and float(r[0]["value"][1]) == len(failed), what="the OOM failures")
        prometheus.wait_for(
            'sum(ovid_request_failures_total{reason="queue_full"})',
            lambda r: r and float(r[0]["value"][1]) == len(rejected), what="the rejections")
        prometheus.wait_for(
            'sum(ovid_request_failures_total{reason="queue_timeout"})',
            lambda r: r and float(r[0]["value"][1]) == 1, what="the queue timeout")
        time.sleep(3)  # a few rule evaluations after the last scrape of the traffic
        yield {"prometheus": prometheus, "daemons": dict(zip(PODS, started)),
               "succeeded": len(succeeded), "rejected": len(rejected), "failed": len(failed),
               "timed_out": len(timed_out)}
    finally:
        for thing in reversed(started):
            thing.stop()
        if "stand_ins" in locals():
            stand_ins.stop()


def live_queries():
    out = [(qid, promql.grafana(expr, **GRAFANA_VARS)) for qid, expr in dashboard_queries()]
    out += rule_queries()
    pods = "|".join(PODS)
    for i, rule in enumerate(adapter_rules()):
        out.append((f"adapter rule {i}: seriesQuery", rule["seriesQuery"]))
        out.append((f"adapter rule {i}: metricsQuery", promql.adapter(
            rule["metricsQuery"], series=rule["name"]["as"],
            label_matchers=f'namespace="{NAMESPACE}",pod=~"{pods}"', group_by="pod")))
    return out


# docs/metrics.md's examples: each one must parse and evaluate; what they return on CPU daemons
# varies (some are guarded against 0/0 and then give nothing), so only that is checked.
@pytest.mark.parametrize("query_id,expr", doc_queries(), ids=[q for q, _ in doc_queries()])
def test_documented_query_evaluates(live, query_id, expr):
    reply = live["prometheus"].query(expr)
    assert reply.get("status") == "success", f"{query_id}: {expr}\n{reply}"


@pytest.mark.parametrize("query_id,expr", live_queries(), ids=[q for q, _ in live_queries()])
def test_query_parses_and_returns_what_the_daemons_produced(live, query_id, expr):
    reply = live["prometheus"].query(expr)
    assert reply.get("status") == "success", f"{query_id}: {expr}\n{reply}"
    got = outcome(reply["data"]["result"])
    print(f"{query_id}: {got}, {len(reply['data']['result'])} series")
    want, why = EXPECTED.get(query_id, ("data", "the daemons produced it"))
    assert got == want, (f"{query_id}: expected {want} ({why}), got {got}\n{expr}\n"
                         f"{reply['data']['result']}")


def test_adapter_query_gives_one_value_per_pod(live):
    [rule] = adapter_rules()
    expr = promql.adapter(rule["metricsQuery"], series=rule["name"]["as"],
                          label_matchers=f'namespace="{NAMESPACE}",pod=~"ovid-0|ovid-1"',
                          group_by="pod")
    result = live["prometheus"].query(expr)["data"]["result"]
    assert sorted(r["metric"]["pod"] for r in result) == PODS
    assert all(float(r["value"][1]) >= 0 for r in result)


def test_dashboard_variables_list_the_replicas(live):
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    # label_values(METRIC{...}, LABEL) is Grafana's call of the label values API.
    ns = variables["namespace"]["definition"]
    assert ns == "label_values(ovid_build_info, namespace)"
    reply = live["prometheus"].api("label/namespace/values", **{"match[]": "ovid_build_info"})
    assert reply["data"] == [NAMESPACE]
    pod = variables["pod"]["definition"]
    assert pod == 'label_values(ovid_build_info{namespace=~"$namespace"}, pod)'
    reply = live["prometheus"].api("label/pod/values",
                                   **{"match[]": f'ovid_build_info{{namespace=~"{NAMESPACE}"}}'})
    assert reply["data"] == PODS


def test_prometheus_evaluates_every_rule_without_error(live):
    groups = live["prometheus"].api("rules")["data"]["groups"]
    seen = {}
    for group in groups:
        for rule in group["rules"]:
            seen[rule["name"]] = (rule["health"], rule.get("lastError", ""))
    expected = {qid.split(": ", 1)[1] for qid, _ in rule_queries()}
    assert set(seen) == expected
    assert all(health == "ok" for health, _ in seen.values()), seen


def test_alerts_see_the_faults(live):
    # The alert expressions return the series that would fire (their `for:` aside).
    prom = live["prometheus"]
    oom = prom.query(dict(rule_queries())["alert: OvidGpuOutOfMemory"])["data"]["result"]
    assert [r["metric"]["pod"] for r in oom] == ["ovid-1"]
    assert float(oom[0]["value"][1]) >= 1
    saturated = prom.query(dict(rule_queries())["alert: OvidQueueSaturated"])["data"]["result"]
    assert [r["metric"]["namespace"] for r in saturated] == [NAMESPACE]
    timeouts = prom.query(dict(rule_queries())["alert: OvidQueueTimeouts"])["data"]["result"]
    assert [r["metric"]["namespace"] for r in timeouts] == [NAMESPACE]
    expiring = prom.query(
        dict(rule_queries())["alert: OvidTlsCertificateExpiresSoon"])["data"]["result"]
    assert [r["metric"]["pod"] for r in expiring] == ["ovid-1"]  # ovid-0 serves plaintext
    assert 0 < float(expiring[0]["value"][1]) <= 2 * 86400
    # The stall and restart alerts are silent on these daemons; the series they read are there,
    # with the labels they group by (a misspelt metric would leave them silent for good).
    for part in ("max by (namespace, job, pod) (ovid_requests_running)",
                 "sum by (namespace, job, pod) (increase(ovid_denoise_step_seconds_count[15m]))",
                 "sum by (namespace, job, pod) (increase(ovid_request_duration_seconds_count[15m]))",
                 "changes(ovid_process_start_time_seconds[1h])"):
        result = prom.query(part)["data"]["result"]
        assert sorted(r["metric"]["pod"] for r in result) == sorted(PODS), (part, result)
    steps = prom.query("sum(increase(ovid_denoise_step_seconds_count[15m]))")["data"]["result"]
    assert float(steps[0]["value"][1]) > 0  # the traffic's jobs stepped
    ratio = prom.query("namespace_job:ovid_request_errors:ratio_rate5m")["data"]["result"]
    # ovid-1's failures over the jobs of both replicas: the refusals for a full queue never became
    # jobs and stay out; the job that timed out in the queue was admitted and counts
    total = live["succeeded"] + live["failed"] + live["timed_out"]
    assert float(ratio[0]["value"][1]) == pytest.approx(live["failed"] / total, rel=0.1)


def test_dockerfile_healthcheck_command_reports_ready(live):
    # The image's HEALTHCHECK, run as written against a ready daemon (its health port here is
    # the API port: the test daemons have no separate --health-address).
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    argv = json.loads(re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", text, re.M).group(1))
    assert argv[0] == "ovidctl" and "127.0.0.1:50052" in argv
    argv = [str(OVID.parent / "ovidctl")] + [
        live["daemons"]["ovid-0"].address if a == "127.0.0.1:50052" else a for a in argv[1:]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ovid_down_fires_for_a_stopped_replica(live):
    # Last: stopping ovid-1 ends its series.
    prom = live["prometheus"]
    live["daemons"]["ovid-1"].stop()
    down = prom.wait_for(dict(rule_queries())["alert: OvidDown"], lambda r: len(r) == 1,
                         what="OvidDown for the stopped replica")
    assert down[0]["metric"]["pod"] == "ovid-1"
