# The ovid daemon as a container image: built on NVIDIA's CUDA devel image, run on the matching
# runtime image (Ubuntu 24.04 both, so the libraries copied across match the runtime's glibc).
#
#   docker build -t ovid:0.1.0 .
#   docker run --gpus all -v /srv/models:/models:ro -p 50051:50051 -p 50052:50052 -p 9464:9464 \
#     -e OVID_MODEL=/models/ovi-q4_k_m.gguf ovid:0.1.0
#
# Every flag of `ovid` has an OVID_<NAME> environment twin (`ovid --help` lists them), so the
# entrypoint takes its configuration from the environment (Kubernetes: env in the Deployment);
# arguments after the image name are appended as flags and win over the variables.
#
# Build arguments: CUDA_TAG (the CUDA/Ubuntu tag of the build image; its CUDA major must match the
# torch wheel's, 13 for torch 2.11.0, which install-venv.sh checks), CUDA_RUNTIME_TAG (the
# runtime image's tag: the same CUDA version and Ubuntu release as CUDA_TAG, since
# stage-runtime.sh copies libraries built against the build image's glibc), CUDA_ARCHS (sm
# numbers compiled) and BUILD_JOBS (parallel compile jobs; each needs ~2 GB of memory).
ARG CUDA_TAG=13.0.1-devel-ubuntu24.04
ARG CUDA_RUNTIME_TAG=13.0.1-runtime-ubuntu24.04

FROM nvidia/cuda:${CUDA_TAG} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# The same installer as a developer machine and CI: distribution packages, prometheus-cpp and the
# virtualenv with the pinned torch wheel (LibTorch). Copied alone first so that this slow layer
# (about 4 GB of wheels) is rebuilt only when the installer or the pins change.
COPY scripts/install-deps.sh scripts/install-prometheus-cpp.sh scripts/install-venv.sh \
     scripts/install-flashinfer.sh scripts/requirements.txt scripts/
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/* /root/.cache/pip

COPY . .
ARG CUDA_ARCHS="80;86;89;90a"
ARG BUILD_JOBS=4
# Only the three shipped binaries: no tests, benchmarks or sanitizer sub-build in an image.
RUN cmake --preset release -DOVID_TESTS=OFF -DOVID_SANITIZED=OFF \
      "-DOVID_CUDA_ARCHS=${CUDA_ARCHS}" \
 && cmake --build build --parallel "${BUILD_JOBS}" --target ovid ovidctl ovid-gguf \
 && bash deploy/docker/stage-runtime.sh build .venv /stage

FROM nvidia/cuda:${CUDA_RUNTIME_TAG} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The binaries, the torch wheel's libraries (torch/lib with the nvidia-* wheels beside it, copied
# from the build stage's virtualenv rather than pip-installed again: the exact files ovid was
# linked against, and no Python in the runtime image) and the other shared libraries ovid needs.
# deploy/docker/stage-runtime.sh explains the layout.
COPY --from=build /stage/ /
# The last two are where the NVIDIA base image expects driver libraries that some hosts mount
# (GKE's device plugin among them); this line replaces the base image's value, so it keeps them.
ENV LD_LIBRARY_PATH=/opt/ovid/lib:/opt/ovid/python/torch/lib:/usr/local/nvidia/lib:/usr/local/nvidia/lib64
# Fails the build when a library is missing: --help loads every shared library and runs LibTorch's
# static initialisers, and needs no GPU or driver (no binary links libcuda).
RUN ovid --help >/dev/null && ovidctl --help >/dev/null \
 && groupadd --system --gid 10001 ovid \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin ovid \
 && mkdir -p /models

# Models are mounted read-only at /models (a PersistentVolumeClaim on Kubernetes, -v ...:ro with
# docker); OVID_MODEL names the GGUF file in it.
ENV OVID_MODEL=/models/ovi.gguf \
    OVID_LISTEN=0.0.0.0:50051 \
    OVID_HEALTH_ADDRESS=0.0.0.0:50052 \
    OVID_METRICS_LISTEN=0.0.0.0:9464 \
    OVID_LOG_FORMAT=json
# gRPC API, plaintext gRPC health (kubelet probes), Prometheus /metrics.
EXPOSE 50051 50052 9464
USER 10001:10001
WORKDIR /tmp
# For plain docker; Kubernetes ignores it and uses the Deployment's gRPC probes. The start period
# covers loading a 7-13 GB GGUF plus warm-up.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20m --retries=3 \
  CMD ["ovidctl", "health", "--address", "127.0.0.1:50052", "--service", "ovid.v1.Generation", "--timeout", "5"]
# SIGTERM starts the drain (readiness NOT_SERVING, running jobs get OVID_DRAIN_TIMEOUT); give
# `docker stop -t` at least that long.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ovid"]
