"""deploy/grafana, deploy/prometheus and the prometheus-adapter rule, without a running
Prometheus: the rules pass promtool (syntax and unit tests), the PrometheusRule is the rule file,
every query names only metrics and labels that exist (docs/metrics.md is the contract), and the
dashboard is portable (datasource variable) and shows what the issue asks for."""
import json
import re
import shutil
import subprocess

import pytest
import yaml

from known_names import EXTERNAL, TARGET_LABELS, documented, recorded
from promql import names
from sources import (DASHBOARD, DEPLOY, RULES, adapter_rules, dashboard, dashboard_queries,
                     doc_queries, rule_queries)

PROMETHEUS_DIR = DEPLOY / "prometheus"


def promtool(*args, cwd=PROMETHEUS_DIR):
    exe = shutil.which("promtool")
    assert exe, "promtool not found: scripts/install-deps.sh installs Debian's prometheus package"
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, check=False)


def all_queries():
    out = dashboard_queries() + rule_queries() + doc_queries()
    for i, rule in enumerate(adapter_rules()):
        out.append((f"adapter rule {i}: seriesQuery", rule["seriesQuery"]))
        out.append((f"adapter rule {i}: metricsQuery", rule["metricsQuery"]))
    return out


def test_promtool_checks_the_rules():
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_queries())} rules found" in result.stdout


def test_promtool_unit_tests_pass():
    result = promtool("test", "rules", "ovid-rules.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_unit_tests_catch_a_broken_rule(tmp_path):
    # The OOM alert pointed at the wrong reason must make the unit tests fail.
    shutil.copy(PROMETHEUS_DIR / "ovid-rules.test.yaml", tmp_path)
    broken = RULES.read_text().replace('reason="device_oom"', 'reason="internal"')
    assert broken != RULES.read_text()
    (tmp_path / RULES.name).write_text(broken)
    result = promtool("test", "rules", "ovid-rules.test.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "OvidGpuOutOfMemory" in result.stdout + result.stderr


def test_every_alert_has_a_unit_test():
    tests = yaml.safe_load((PROMETHEUS_DIR / "ovid-rules.test.yaml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])
              if case.get("exp_alerts")}
    alerts = {q.split(": ", 1)[1] for q, _ in rule_queries() if q.startswith("alert: ")}
    assert alerts == tested


def test_the_issue_alerts_exist():
    alerts = {q.split(": ", 1)[1] for q, _ in rule_queries() if q.startswith("alert: ")}
    for wanted in ("OvidQueueSaturated", "OvidHighErrorRate", "OvidGpuOutOfMemory",
                   "OvidVramNearLimit", "OvidNotReady"):
        assert wanted in alerts


def test_prometheusrule_is_rendered_from_the_rule_file(tmp_path):
    out = tmp_path / "prometheusrule.yaml"
    subprocess.run(["bash", str(PROMETHEUS_DIR / "render-prometheusrule.sh"), str(out)], check=True)
    assert out.read_text() == (PROMETHEUS_DIR / "prometheusrule.yaml").read_text(), (
        "deploy/prometheus/prometheusrule.yaml is stale: run deploy/prometheus/render-prometheusrule.sh")


@pytest.mark.parametrize("query_id,expr", all_queries(), ids=[q for q, _ in all_queries()])
def test_query_names_documented_metrics_and_labels(query_id, expr):
    docs = documented()
    metrics, labels = names(expr.replace("<<.Series>>", "ovid_queue_depth")
                            .replace("<<.LabelMatchers>>", 'namespace="x"')
                            .replace("<<.GroupBy>>", "pod"))
    assert metrics, f"{query_id}: no metric found in {expr!r}"
    allowed_labels = set(TARGET_LABELS)
    for metric in metrics:
        if metric in docs:
            allowed_labels |= set(docs[metric])
        elif metric in EXTERNAL:
            allowed_labels |= EXTERNAL[metric]
        else:
            assert metric in recorded(), f"{query_id}: {metric} is not in docs/metrics.md"
            allowed_labels |= {"outcome", "reason"}
    assert labels <= allowed_labels | {"le"}, f"{query_id}: unknown labels {labels - allowed_labels}"
    # Equality matchers on closed label sets must name values that exist.
    for label, value in re.findall(r'(\w+)="([^"$]*)"', expr):
        for metric in metrics & set(docs):
            values = docs[metric].get(label)
            if values:
                assert value in values, f"{query_id}: {label}=\"{value}\" is not a value of {metric}"


def test_dashboard_datasource_is_a_variable():
    dash = dashboard()
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ref = {"type": "prometheus", "uid": "${datasource}"}
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == ref, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == ref, panel["title"]
    for name in ("namespace", "pod"):
        assert variables[name]["datasource"] == ref
    # No datasource uid is fixed anywhere in the file.
    uids = re.findall(r'"uid":\s*"([^"]*)"', DASHBOARD.read_text())
    assert set(uids) <= {"${datasource}", dash["uid"]}


def test_dashboard_rates_follow_the_rate_interval():
    # A time series draws one point per step, so its windows follow the rate interval; the whole
    # range ($__range) belongs in panels that show one value per series (stat, bar gauge, table):
    # in a time series every point would cover the whole range.
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            query_id = f"dashboard: {panel['title']} [{target['refId']}]"
            windows = re.findall(r"(?:rate|increase|_over_time)\([^\[]*\[([^\]]*)\]",
                                 target["expr"])
            # A stat's subquery grid ([$__range:1m]) may look back a fixed 2m at each point: its
            # step plus a scrape interval, so no change between two scrapes falls between points.
            allowed = ({"$__rate_interval"} if panel["type"] == "timeseries"
                       else {"$__rate_interval", "$__range", "2m"})
            for window in windows:
                assert window in allowed, f"{query_id} ({panel['type']}): window [{window}]"


def test_dashboard_layout_has_no_overlaps_and_vram_comes_first():
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells = {}
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
    first = min(panels, key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    assert first["type"] == "row" and first["title"] == "VRAM"


def test_dashboard_shows_what_the_issue_asks_for():
    queries = " ".join(expr for _, expr in dashboard_queries())
    legends = " ".join(t["legendFormat"] for p in dashboard()["panels"] for t in p.get("targets", []))
    for metric in ("ovid_weights_resident_bytes", "ovid_dequant_workspace_bytes",
                   "ovid_bf16_cache_bytes", "ovid_torch_allocated_bytes", "ovid_torch_reserved_bytes",
                   "ovid_gpu_memory_used_bytes", "DCGM_FI_DEV_FB_USED", "ovid_requests_total",
                   "ovid_request_failures_total", "ovid_queue_depth", "ovid_queue_wait_seconds_bucket",
                   "ovid_request_duration_seconds_bucket", "ovid_stage_duration_seconds_bucket",
                   "ovid_denoise_step_seconds_bucket"):
        assert metric in queries, metric
    assert "sum by (pod, type) (ovid_weights_resident_bytes" in queries  # weights by type
    for quantile in ("p50", "p90", "p99"):
        assert quantile in legends


def test_grafana_provisioning_points_at_the_dashboard():
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "ovid.yaml").read_text())
    assert provider["apiVersion"] == 1
    [entry] = provider["providers"]
    assert entry["type"] == "file" and entry["options"]["path"].endswith("/ovid")
    datasources = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    json.loads(DASHBOARD.read_text())
