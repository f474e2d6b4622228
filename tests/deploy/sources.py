"""What tests/deploy checks, read from the repository: the paths, every PromQL query that deploy/
ships (dashboard panels, recording and alerting rules, the prometheus-adapter rule) or that
docs/metrics.md offers, the rendered Kustomize overlays, and the flags `ovid` accepts."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(os.environ.get("OVID_ROOT", Path(__file__).resolve().parents[2]))
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "ovid.json"
RULES = DEPLOY / "prometheus" / "ovid-rules.yaml"
ADAPTER = DEPLOY / "k8s" / "prometheus-adapter" / "values.yaml"
METRICS_DOC = ROOT / "docs" / "metrics.md"
OVERLAYS = ["single-gpu", "multi-replica"]
VENV_BIN = Path(sys.executable).parent


def tool(name):
    """A pinned tool of the virtualenv (scripts/requirements.txt), else one on PATH."""
    pinned = VENV_BIN / name
    if pinned.exists():
        return str(pinned)
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} not found in {VENV_BIN} or on PATH: run scripts/install-deps.sh "
                             f"(scripts/requirements.txt pins it)")
    return found


def dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_queries():
    """[(id, expr)] of every panel target, id = "dashboard: TITLE [REFID]"."""
    out = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            out.append((f"dashboard: {panel['title']} [{target['refId']}]", target["expr"]))
    return out


def doc_queries():
    """[(id, expr)] of the example queries in docs/metrics.md's promql blocks. A query is a line
    and its indented continuations; id = "docs: FIRST LINE OF THE COMMENT ABOVE (n)"."""
    out = []
    for block in re.findall(r"```promql\n(.*?)```", METRICS_DOC.read_text(), re.S):
        comment, previous = "", ""
        for line in block.splitlines():
            if line.startswith("#"):
                if not previous.startswith("#"):  # a comment of several lines: its first line
                    comment = line.lstrip("# ").strip()
            elif line.startswith((" ", "\t")) and out and previous and not previous.startswith("#"):
                qid, expr = out[-1]
                out[-1] = (qid, f"{expr}\n{line}")  # a continuation of the query above
            elif line.strip():
                n = sum(1 for qid, _ in out if qid.startswith(f"docs: {comment} ("))
                out.append((f"docs: {comment} ({n + 1})", line))
            previous = line
    return out


def rules():
    return yaml.safe_load(RULES.read_text())


def rule_queries():
    """[(id, expr)] of every rule, id = "record: NAME" or "alert: NAME"."""
    out = []
    for group in rules()["groups"]:
        for rule in group["rules"]:
            kind = "record" if "record" in rule else "alert"
            out.append((f"{kind}: {rule[kind]}", rule["expr"]))
    return out


def adapter_rules():
    return yaml.safe_load(ADAPTER.read_text())["rules"]["custom"]


def render(overlay):
    """The overlay rendered by `kubectl kustomize`, as a list of objects."""
    result = subprocess.run([tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def ovid_env_names():
    """OVID_<NAME> twins of the flags server/config.cc defines (config.cc derives each twin from
    the flag name the same way: upper case, '-' -> '_')."""
    text = (ROOT / "server" / "config.cc").read_text()
    flags = re.findall(r'^\s*\{"([a-z][a-z0-9-]*)", "', text, re.M)
    assert len(flags) > 10, "server/config.cc's flag table was not found"
    return {"OVID_" + f.upper().replace("-", "_") for f in flags}
