"""docs/metrics.md's metric table as data, and a check of a /metrics scrape against it.

Used by test_metrics_doc.py (the selftest binary) and meant for the end-to-end test of the real
daemon: `mismatches(scrape_text, doc_path)` returns what differs, one readable line each, so a
test can `assert mismatches(...) == []` and show everything wrong at once.

Table format (one row per metric, under a header row starting `| metric |`):
  | `name` | counter/gauge/histogram | labels | unit | buckets | meaning |
labels: `—` for none, else `label`: `v1`, `v2`; `label2`: any   ("any" = free text, one value)
buckets: `—`, or comma-separated upper bounds; a suffix Ki/Mi/Gi multiplies by 2^10/2^20/2^30.
"""
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

TYPES = {"counter", "gauge", "histogram"}
UNIT_SUFFIXES = {"seconds": "_seconds", "bytes": "_bytes"}
BYTE_SUFFIXES = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30}
NONE = {"—", "-", ""}
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")  # snake_case, no colons (those are for recording rules)


@dataclass
class DocMetric:
    name: str                 # as exposed: counters with their _total
    type: str                 # counter | gauge | histogram
    labels: dict = field(default_factory=dict)  # label -> set of values, or None for "any"
    unit: str = ""
    buckets: list = None      # histogram upper bounds without +Inf; None for other types


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _plain(text):
    return text.replace("`", "").strip()


def _parse_labels(cell):
    if _plain(cell) in NONE:
        return {}
    labels = {}
    for part in cell.split(";"):
        name, sep, values = part.partition(":")
        if not sep:
            raise ValueError(f"label entry without ':' in {cell!r}")
        name = _plain(name)
        values = _plain(values)
        labels[name] = None if values == "any" else {_plain(v) for v in values.split(",")}
    return labels


def _parse_bound(text):
    text = _plain(text)
    for suffix, factor in BYTE_SUFFIXES.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _parse_buckets(cell):
    if _plain(cell) in NONE:
        return None
    return [_parse_bound(b) for b in cell.split(",")]


def parse_doc(path):
    """{exposed name: DocMetric} from the table in docs/metrics.md. Raises ValueError on a
    malformed row, so a broken table fails loudly instead of checking nothing."""
    metrics = {}
    in_table = False
    for line in Path(path).read_text().splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells and cells[0].lower() == "metric":
            in_table = True
            continue
        if not in_table or set(cells[0]) <= {"-", ":", " "}:
            continue
        if len(cells) != 6:
            raise ValueError(f"metric row has {len(cells)} cells, not 6: {line}")
        name, type_, labels, unit, buckets, _ = cells
        m = DocMetric(_plain(name), _plain(type_), _parse_labels(labels), _plain(unit),
                      _parse_buckets(buckets))
        if m.type not in TYPES:
            raise ValueError(f"{m.name}: unknown type {m.type!r}")
        if (m.type == "histogram") != (m.buckets is not None):
            raise ValueError(f"{m.name}: buckets are for histograms only, and required there")
        if m.name in metrics:
            raise ValueError(f"{m.name}: listed twice")
        metrics[m.name] = m
    if not metrics:
        raise ValueError(f"{path}: no metric table found")
    return metrics


def _doc_self_check(doc):
    """Naming rules the table itself must follow (promtool checks the scrape, this the doc)."""
    problems = []
    for m in doc.values():
        if not NAME_RE.match(m.name):
            problems.append(f"{m.name}: not a snake_case metric name")
        if (m.type == "counter") != m.name.endswith("_total"):
            problems.append(f"{m.name}: counters, and only counters, end in _total")
        suffix = UNIT_SUFFIXES.get(m.unit)
        if suffix and not m.name.removesuffix("_total").endswith(suffix):
            problems.append(f"{m.name}: unit {m.unit} but the name does not end in {suffix}")
        if m.name.endswith("_info") and m.unit != "1":
            problems.append(f"{m.name}: an _info gauge has unit 1")
    return problems


def _declared_types(text):
    """{name: type} from the "# TYPE" lines: the names as exposed (prometheus_client renames
    counter families, so the raw lines are the authority on names and types)."""
    declared = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) == 4:
                declared[parts[2]] = parts[3]
    return declared


def _check_family(doc_metric, declared_type, family):
    problems = []
    name = doc_metric.name
    if declared_type != doc_metric.type:
        return [f"{name}: type {declared_type}, documented {doc_metric.type}"]
    documented = set(doc_metric.labels)
    bounds = set()
    for sample in family.samples:
        labels = dict(sample.labels)
        if doc_metric.type == "histogram" and sample.name.endswith("_bucket"):
            le = labels.pop("le", None)
            if le is not None and le != "+Inf":
                bounds.add(float(le))
        if set(labels) != documented:
            problems.append(f"{name}: sample {sample.name}{labels} has labels {sorted(labels)}, "
                            f"documented {sorted(documented)}")
            continue
        for label, value in labels.items():
            allowed = doc_metric.labels[label]
            if allowed is not None and value not in allowed:
                problems.append(f"{name}: {label}={value!r} is not a documented value")
    if doc_metric.buckets is not None:
        expected = sorted(doc_metric.buckets)
        got = sorted(bounds)
        if len(got) != len(expected) or any(not math.isclose(a, b, rel_tol=1e-9)
                                            for a, b in zip(got, expected)):
            problems.append(f"{name}: buckets {got}, documented {expected}")
    return problems


def mismatches(text, doc_path, prefix="ovid_", allow_missing=()):
    """Every difference between a /metrics scrape and the documented table, as strings; [] when
    they agree. `allow_missing` names documented metrics a scrape may lack (a series created at
    its first event, before that event)."""
    doc = parse_doc(doc_path)
    problems = _doc_self_check(doc)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    declared = _declared_types(text)
    seen = set()
    for name, declared_type in declared.items():
        if not name.startswith(prefix):
            continue
        seen.add(name)
        if name not in doc:
            problems.append(f"{name}: exposed but not in {Path(doc_path).name}")
            continue
        family = families.get(name) or families.get(name.removesuffix("_total"))
        if family is None or not family.samples:
            problems.append(f"{name}: exposed without samples")
            continue
        problems.extend(_check_family(doc[name], declared_type, family))
    for family in families.values():
        untyped = not any(n in declared for n in (family.name, family.name + "_total"))
        if family.name.startswith(prefix) and untyped:
            problems.append(f"{family.name}: samples without a # TYPE line")
    for name in sorted(set(doc) - seen - set(allow_missing)):
        problems.append(f"{name}: documented but not exposed")
    return problems


def sample_values(text):
    """{(sample name, frozenset of label items): value} for a whole scrape."""
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values


def value(values, name, **labels):
    """One sample's value from sample_values(); KeyError names what was asked for. A numeric
    `le` matches by value, since exporters print bounds differently ("2" or "2.0")."""
    le = labels.pop("le", None)
    for (sample, items), v in values.items():
        got = dict(items)
        got_le = got.pop("le", None)
        if sample != name or got != labels:
            continue
        if le is None and got_le is None:
            return v
        if le is not None and got_le is not None and float(got_le) == float(le):
            return v
    raise KeyError(f"no sample {name}{labels}" + (f" le={le}" if le is not None else ""))
