"""Which metric and label names deploy/'s queries may use: docs/metrics.md's table (parsed by
tests/server/metrics_doc.py), the recording rules' own names, the labels Prometheus and
prometheus-operator attach to every scraped series, and the few metrics of other exporters the
dashboard and rules read on purpose."""
import sys

from sources import ROOT, rules

sys.path.insert(0, str(ROOT / "tests" / "server"))
from metrics_doc import parse_doc  # noqa: E402

# Target labels: Prometheus adds job and instance; prometheus-operator adds namespace, pod,
# container, endpoint and service. `le` is every histogram bucket's label.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container", "endpoint", "service"}
# Metrics from elsewhere, each with the labels queried: Prometheus's own `up`, dcgm-exporter's
# framebuffer-used (MiB) for the VRAM comparison, kube-state-metrics for readiness.
EXTERNAL = {
    "up": set(),
    "DCGM_FI_DEV_FB_USED": {"gpu", "UUID", "device", "modelName", "Hostname"},
    "kube_deployment_spec_replicas": {"deployment"},
    "kube_deployment_status_replicas_available": {"deployment"},
    "kube_deployment_status_replicas_updated": {"deployment"},
    "kube_deployment_status_condition": {"deployment", "condition", "status"},
}


def documented():
    """{series name: {label: allowed values or None}} for every exposed ovid series, histogram
    _bucket/_sum/_count included."""
    out = {}
    for name, metric in parse_doc(ROOT / "docs" / "metrics.md").items():
        if metric.type == "histogram":
            out[name + "_bucket"] = dict(metric.labels, le=None)
            out[name + "_sum"] = dict(metric.labels)
            out[name + "_count"] = dict(metric.labels)
        else:
            out[name] = dict(metric.labels)
    return out


def recorded():
    return {rule["record"] for group in rules()["groups"] for rule in group["rules"]
            if "record" in rule}
