"""The Dockerfile: lint-clean under hadolint (no Docker engine here to build it), and the facts the
deployment relies on: matching CUDA images, the project's installer, a non-root user, the three
ports, `ovid` as the entrypoint configured through real OVID_ variables."""
import re
import subprocess

from sources import DEPLOY, ROOT, ovid_env_names, tool

DOCKERFILE = ROOT / "Dockerfile"


def instructions():
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_finds_nothing():
    result = subprocess.run([tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_does_flag_a_broken_dockerfile(tmp_path):
    # The lint must actually look: an unpinned base image and a root user are findings.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True,
                            check=False)
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3008" in result.stdout


def test_build_on_cuda_devel_run_on_the_matching_runtime():
    args = {}
    for word, rest in instructions():
        if word == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name] = value.strip('"')
    froms = [rest for word, rest in instructions() if word == "FROM"]
    assert froms == ["nvidia/cuda:${CUDA_TAG} AS build", "nvidia/cuda:${CUDA_RUNTIME_TAG} AS runtime"]
    devel = re.fullmatch(r"(\d+\.\d+\.\d+)-devel-ubuntu24\.04", args["CUDA_TAG"])
    runtime = re.fullmatch(r"(\d+\.\d+\.\d+)-runtime-ubuntu24\.04", args["CUDA_RUNTIME_TAG"])
    assert devel and runtime and devel.group(1) == runtime.group(1)
    # CUDA 13 because the pinned torch wheel is built for it (install-venv.sh checks the match).
    assert devel.group(1).startswith("13.")
    assert "torch==2.11.0" in (ROOT / "scripts" / "requirements.txt").read_text()


def test_installs_through_the_project_installer_and_builds_the_binaries():
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    assert "bash scripts/install-deps.sh" in runs
    assert "--target ovid ovidctl ovid-gguf" in runs
    assert "deploy/docker/stage-runtime.sh" in runs
    assert (DEPLOY / "docker" / "stage-runtime.sh").exists()
    # The runtime stage proves every shared library resolves before the image is finished.
    assert "ovid --help" in runs


def test_runs_ovid_as_a_non_root_user_with_its_ports():
    ins = instructions()
    users = [rest for word, rest in ins if word == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    exposed = {int(p) for word, rest in ins if word == "EXPOSE" for p in rest.split()}
    assert exposed == {50051, 50052, 9464}
    entry = [rest for word, rest in ins if word == "ENTRYPOINT"]
    assert entry == ['["ovid"]']
    assert [rest for word, rest in ins if word == "STOPSIGNAL"] == ["SIGTERM"]


def test_environment_names_real_flags_and_matches_the_ports():
    env = {}
    for word, rest in instructions():
        if word == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", rest):
                env[name] = value
    ovid_vars = {k for k in env if k.startswith("OVID_")}
    assert ovid_vars, "the image configures ovid through OVID_ variables"
    assert ovid_vars <= ovid_env_names(), ovid_vars - ovid_env_names()
    assert env["OVID_LISTEN"].endswith(":50051")
    assert env["OVID_HEALTH_ADDRESS"].endswith(":50052")
    assert env["OVID_METRICS_LISTEN"].endswith(":9464")
    assert env["OVID_MODEL"].startswith("/models/")


def test_dockerignore_keeps_local_builds_and_models_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".deps", "build", "build-*", "**/*.gguf"):
        assert entry in ignored
    # Every local folder that git ignores at the top (e.g. .flashinfer, the GPU machine's header
    # subset, which CMake would prefer to the pinned headers) stays out of the build context.
    for line in (ROOT / ".gitignore").read_text().splitlines():
        if line.startswith("/") and line.endswith("/") and "*" not in line:
            assert line.strip("/") in ignored, f".dockerignore lacks {line.strip('/')}"
