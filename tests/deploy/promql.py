"""PromQL as text: the Grafana and prometheus-adapter placeholders in deploy/'s queries, replaced
by concrete values so Prometheus can run them, and the metric and label names a query uses, so
the tests can hold them against docs/metrics.md. No PromQL parser is packaged for Python; the
queries here are simple enough that stripping strings, ranges and label lists leaves the names."""
import re

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def grafana(expr, namespace=".*", pod=".*", rate_interval="2m", range_="10m"):
    """A dashboard query with Grafana's variables replaced as Grafana would for one choice."""
    out = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)
    out = out.replace("$namespace", namespace).replace("$pod", pod)
    leftover = re.findall(r"\$\{?\w+", out)
    if leftover:
        raise ValueError(f"unsubstituted Grafana variables {leftover} in {expr!r}")
    return out


def adapter(template, series, label_matchers, group_by):
    """A prometheus-adapter metricsQuery with its template fields filled as the adapter does for
    an HPA asking about some pods."""
    out = (template.replace("<<.Series>>", series).replace("<<.LabelMatchers>>", label_matchers)
           .replace("<<.GroupBy>>", group_by))
    if "<<" in out:
        raise ValueError(f"unfilled adapter field in {template!r}")
    return out


def names(expr):
    """(metric names, label names) used in a query: selectors, matchers and grouping clauses."""
    text = _STRING.sub('""', expr)
    labels = set()
    for match in _MATCHERS.finditer(text):
        labels.update(m.group(0) for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*(?=\s*(=~|!~|!=|=))",
                                                      match.group(1)))
    text = _MATCHERS.sub(" ", text)
    for match in _GROUPING.finditer(text):
        labels.update(x.strip() for x in match.group(2).split(",") if x.strip())
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    metrics = set()
    for match in _IDENT.finditer(text):
        word = match.group(0)
        rest = text[match.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):
            continue
        # a number's exponent or a duration suffix is not a name
        if match.start() > 0 and (text[match.start() - 1].isdigit() or text[match.start() - 1] == "."):
            continue
        metrics.add(word)
    return metrics, labels
