"""deploy/k8s: every overlay renders with `kubectl kustomize`; the built-in objects validate under
kubernetes-validate (strict) for the oldest and newest Kubernetes the manifests support; the
prometheus-operator objects validate against tests/deploy/schemas with check-jsonschema; deploy/
passes yamllint; and the rendered objects agree with each other and with the daemon (ports,
probes, drain time, selectors, the autoscaler's metric)."""
import json
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from sources import ADAPTER, DEPLOY, OVERLAYS, adapter_rules, ovid_env_names, render, tool

# gRPC probes are GA from 1.27 (KEP-2727); 1.37 is the newest schema kubernetes-validate pins.
K8S_VERSIONS = ["1.27.0", "1.37.0"]
CRD_SCHEMAS = {
    "ServiceMonitor": "servicemonitor-monitoring-v1.json",
    "PodMonitor": "podmonitor-monitoring-v1.json",
    "PrometheusRule": "prometheusrule-monitoring-v1.json",
}
SCHEMA_DIR = DEPLOY.parent / "tests" / "deploy" / "schemas"
HEALTH_SERVICE = "ovid.v1.Generation"


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request):
    return request.param, render(request.param)


def one(objects, kind):
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def named(objects, kind, name):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def container(objects):
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def ovid_env(objects):
    """The OVID_ variables the container gets: its ConfigMap, then its own env (which wins)."""
    c = container(objects)
    env = {}
    for source in c.get("envFrom", []):
        env.update(named(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    env.update({e["name"]: e["value"] for e in c.get("env", [])})
    return env


def seconds(text):
    match = re.fullmatch(r"(\d+)(s|m|h)?", text)
    assert match, f"not a duration this test reads: {text!r}"
    return int(match.group(1)) * {"s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]


def test_overlays_hold_the_expected_objects(overlay):
    name, objects = overlay
    kinds = sorted(o["kind"] for o in objects)
    common = ["ConfigMap", "ConfigMap", "Deployment", "PersistentVolumeClaim", "PrometheusRule",
              "Service", "Service"]
    # Both scrape pods directly: a ServiceMonitor loses a pod when it starts draining (it leaves
    # the Service's endpoints), and with it the outcomes of the jobs it finishes while draining.
    expected = {"single-gpu": common + ["PodMonitor"],
                "multi-replica": common + ["HorizontalPodAutoscaler", "PodDisruptionBudget",
                                           "PodMonitor"]}[name]
    assert kinds == sorted(expected)
    assert {o["metadata"].get("namespace") for o in objects} == {"ovid"}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_objects_validate_strictly(overlay, version):
    _, objects = overlay
    checked = 0
    for obj in objects:
        if obj["kind"] in CRD_SCHEMAS:
            continue
        kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked >= 6


def test_model_loader_pod_validates():
    pod = yaml.safe_load((DEPLOY / "k8s" / "model-loader" / "pod.yaml").read_text())
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "ovid-models"


def check_jsonschema(schema, documents, tmp_path):
    paths = []
    for i, doc in enumerate(documents):
        path = tmp_path / f"doc{i}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    return subprocess.run([tool("check-jsonschema"), "--schemafile", str(SCHEMA_DIR / schema),
                           *paths], capture_output=True, text=True, check=False)


def test_operator_objects_validate_against_their_schemas(overlay, tmp_path):
    _, objects = overlay
    crds = [o for o in objects if o["kind"] in CRD_SCHEMAS]
    assert len(crds) == 2  # the scrape object and the rules
    for obj in crds:
        result = check_jsonschema(CRD_SCHEMAS[obj["kind"]], [obj], tmp_path)
        assert result.returncode == 0, f"{obj['kind']}: {result.stdout}{result.stderr}"


def test_operator_schemas_reject_mistakes(overlay, tmp_path):
    # A misspelt field and a malformed duration must fail, or the schemas check nothing.
    _, objects = overlay
    for obj in objects:
        if obj["kind"] not in ("ServiceMonitor", "PodMonitor"):
            continue
        endpoints = "endpoints" if obj["kind"] == "ServiceMonitor" else "podMetricsEndpoints"
        misspelt = json.loads(json.dumps(obj))
        misspelt["spec"][endpoints][0]["intervall"] = "15s"
        bad_duration = json.loads(json.dumps(obj))
        bad_duration["spec"][endpoints][0]["interval"] = "15 seconds"
        for bad in (misspelt, bad_duration):
            assert check_jsonschema(CRD_SCHEMAS[obj["kind"]], [bad], tmp_path).returncode != 0


def test_yamllint_passes_on_deploy():
    result = subprocess.run([tool("yamllint"), "--strict", "-c", str(DEPLOY / ".yamllint.yaml"),
                             str(DEPLOY)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_overlay_sets_a_pushed_image(overlay):
    # The base names the image `ovid`; each overlay must point it at a registry and a tag, the
    # same image the model-loader pod uses (it runs ovid-gguf from it).
    _, objects = overlay
    image = container(objects)["image"]
    assert re.fullmatch(r"[\w.-]+(:\d+)?/[\w./-]+:[\w.-]+", image), image
    loader = yaml.safe_load((DEPLOY / "k8s" / "model-loader" / "pod.yaml").read_text())
    assert loader["spec"]["containers"][0]["image"] == image


def test_container_configuration_is_made_of_real_flags(overlay):
    _, objects = overlay
    env = ovid_env(objects)
    assert set(env) <= ovid_env_names(), set(env) - ovid_env_names()
    assert env["OVID_MODEL"].startswith("/models/")
    # Every stage from the model volume, so the default output is the MP4 with sound.
    for stage in ("OVID_TEXT_ENCODER", "OVID_TOKENIZER", "OVID_VAE", "OVID_AUDIO_VAE",
                  "OVID_VOCODER"):
        assert env[stage].startswith("/models/"), stage
    assert env["OVID_DEVICE"] == "cuda"
    assert not any(k.startswith("OVID_FAULT_") for k in env), "test-only fault hooks in a deployment"


def test_ports_match_the_daemon_configuration(overlay):
    _, objects = overlay
    env = ovid_env(objects)
    ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert env["OVID_LISTEN"] == f"0.0.0.0:{ports['grpc']}"
    assert env["OVID_HEALTH_ADDRESS"] == f"0.0.0.0:{ports['health']}"
    assert env["OVID_METRICS_LISTEN"] == f"0.0.0.0:{ports['metrics']}"
    service = named(objects, "Service", "ovid")
    assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]} == {
        "grpc": "grpc", "metrics": "metrics"}


def test_probes_are_grpc_on_the_plaintext_health_port(overlay):
    _, objects = overlay
    c = container(objects)
    health_port = {p["name"]: p["containerPort"] for p in c["ports"]}["health"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == health_port, probe
    # readiness and start-up ask for the API service (model loaded, warm, not draining);
    # liveness asks for "" (the process answers), so a draining pod is not killed.
    assert c["startupProbe"]["grpc"]["service"] == HEALTH_SERVICE
    assert c["readinessProbe"]["grpc"]["service"] == HEALTH_SERVICE
    assert c["livenessProbe"]["grpc"].get("service", "") == ""
    startup = c["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    # A 13 GB GGUF from a slow volume (50 MB/s) is 260 s before the copy to the GPU and warm-up.
    assert budget >= 15 * 60, f"start-up budget {budget} s"


def test_grace_period_covers_prestop_and_drain(overlay):
    _, objects = overlay
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    pre_stop = container(objects)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = seconds(ovid_env(objects)["OVID_DRAIN_TIMEOUT"])
    margin = 10
    assert spec["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + drain + margin


def test_gpu_shm_and_read_only_models(overlay):
    _, objects = overlay
    c = container(objects)
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    models = mounts["/models"]
    assert models["readOnly"] is True
    claim = volumes[models["name"]]["persistentVolumeClaim"]["claimName"]
    named(objects, "PersistentVolumeClaim", claim)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False  # it never calls the API server


def test_selectors_reach_the_pods(overlay):
    name, objects = overlay
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = named(objects, "Service", "ovid")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    monitor = one(objects, "PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    container_ports = {p["name"] for p in container(objects)["ports"]}
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= container_ports
    if name == "multi-replica":
        pdb = one(objects, "PodDisruptionBudget")
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def render_with_component(component, tmp_path):
    """The base with one opt-in component, rendered in a copy of deploy/ (no overlay uses it)."""
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    own = tmp_path / "deploy" / "k8s" / "overlays" / component
    own.mkdir()
    (own / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - ../../base\ncomponents:\n  - ../../components/{component}\n")
    result = subprocess.run([tool("kubectl"), "kustomize", str(own)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_servicemonitor_component_scrapes_one_service(tmp_path):
    # No overlay uses it (see above), but it stays for clusters that only scrape through
    # Services: it must select the metrics Service only (not the headless one, or every pod is
    # scraped twice) and validate.
    objects = render_with_component("servicemonitor", tmp_path)
    monitor = one(objects, "ServiceMonitor")
    service = named(objects, "Service", "ovid")
    headless = named(objects, "Service", "ovid-headless")
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    assert selector <= service["metadata"]["labels"].items()
    assert not selector <= headless["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    checked = check_jsonschema(CRD_SCHEMAS["ServiceMonitor"], [monitor], tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_security_component_mounts_rotatable_secrets_where_the_flags_point(tmp_path):
    objects = render_with_component("security", tmp_path)
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(one(objects, "Deployment"), version, strict=True)
    env = ovid_env(objects)
    assert set(env) <= ovid_env_names(), set(env) - ovid_env_names()
    c = container(objects)
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    # Each file a flag names lies in a whole-Secret mount: a subPath mount is never updated,
    # so a renewed certificate or a rotated token would need a restart.
    expected = {"OVID_TLS_CERT": ("ovid-tls", "tls.crt"), "OVID_TLS_KEY": ("ovid-tls", "tls.key"),
                "OVID_AUTH_TOKEN_FILE": ("ovid-auth", "tokens")}
    for variable, (secret, key) in expected.items():
        path = env[variable]
        mount = next(m for m in c["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/"))
        assert "subPath" not in mount and mount["readOnly"] is True, mount
        assert path == f"{mount['mountPath']}/{key}"
        source = volumes[mount["name"]]["secret"]
        assert source["secretName"] == secret
        # Group-readable for the pod's fsGroup, not world-readable.
        assert source["defaultMode"] == 0o440
        assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"]
    # The API port speaks TLS now: no Service calls it cleartext HTTP/2 (h2c) any more, which a
    # mesh or gateway would believe. The metrics port stays plain http.
    for service in (o for o in objects if o["kind"] == "Service"):
        grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
        assert "appProtocol" not in grpc_port, service["metadata"]["name"]
    # The probes and the scrape are untouched: still the plaintext health and metrics ports.
    assert env["OVID_HEALTH_ADDRESS"] == "0.0.0.0:50052"
    assert c["startupProbe"]["grpc"]["port"] == 50052


def test_jobs_calls_reach_the_pod_that_holds_the_job(overlay):
    # A job lives in the pod that accepted it: the Service keeps a client address on one pod for
    # hours, so a reconnecting client can re-attach to, look up and cancel its jobs.
    _, objects = overlay
    spec = named(objects, "Service", "ovid")["spec"]
    assert spec["sessionAffinity"] == "ClientIP"
    assert spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] >= 3600


def test_rollouts_have_time_for_a_drain_and_a_model_load(overlay):
    # maxSurge 0: a new pod waits for the old pod's grace period, then starts (the startup
    # probe's budget). Kubernetes' default deadline (600 s) would fail every rollout.
    _, objects = overlay
    deployment = one(objects, "Deployment")
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    startup = container(objects)["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert deployment["spec"].get("progressDeadlineSeconds", 600) >= grace + budget + 60


def test_autoscaler_uses_the_adapter_metric():
    objects = render("multi-replica")
    hpa = one(objects, "HorizontalPodAutoscaler")
    deployment = one(objects, "Deployment")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}
    # the HPA owns the count: a replicas field would reset it on every apply
    assert "replicas" not in deployment["spec"]
    assert hpa["spec"]["minReplicas"] >= 2
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    published = {rule["name"]["as"] for rule in adapter_rules()}
    assert metric["pods"]["metric"]["name"] in published
    for rule in adapter_rules():
        # the adapter maps these labels to the objects the HPA asks about
        assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"},
                                                  "pod": {"resource": "pod"}}
        for field in ("<<.Series>>", "<<.LabelMatchers>>", "<<.GroupBy>>"):
            assert field in rule["metricsQuery"], f"{ADAPTER}: metricsQuery lacks {field}"
    # several pods on several nodes read one model volume
    assert one(objects, "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteMany"]


def test_dashboard_configmap_is_the_json_file():
    objects = render("single-gpu")
    cm = named(objects, "ConfigMap", "ovid-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["data"]["ovid.json"] == (DEPLOY / "grafana" / "dashboards" / "ovid.json").read_text()


def test_prometheusrule_is_the_rule_file():
    objects = render("single-gpu")
    rule = one(objects, "PrometheusRule")
    source = yaml.safe_load((DEPLOY / "prometheus" / "ovid-rules.yaml").read_text())
    assert rule["spec"]["groups"] == source["groups"]


def test_the_pod_tolerates_the_gpu_taint_itself(overlay):
    # GPU nodes are commonly tainted nvidia.com/gpu; only the ExtendedResourceToleration admission
    # plugin, off in many clusters, would add the toleration for the GPU request.
    _, objects = overlay
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert container(objects)["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_several_replicas_hand_queued_jobs_back_on_a_drain(overlay):
    # With other replicas to retry on, a draining pod's queued jobs end at once (UNAVAILABLE);
    # one replica alone lets them run while the drain lasts (there is nowhere else to go).
    name, objects = overlay
    expected = "refuse" if name == "multi-replica" else None
    assert ovid_env(objects).get("OVID_DRAIN_QUEUED") == expected
