"""Fixtures of the end-to-end tests: a tiny Ovi model written by `ovid-gguf synth`, real `ovid`
daemons on it (CPU), and the Python client (clients/python) to talk to them."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(os.environ.get("OVID_ROOT", Path(__file__).resolve().parents[2]))
BIN = Path(os.environ.get("OVID_BIN", ROOT / "build" / "bin"))

subprocess.run(["bash", str(ROOT / "clients" / "python" / "generate.sh")], check=True,
               env=dict(os.environ, PYTHON=sys.executable))
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ovid_client  # noqa: E402
from daemon import Daemon  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The ovi-tiny preset (3 layers, dim 256, the 128x128 test variant), Q4_K_M like a real
    deployment, so the daemon runs the quantized layers."""
    path = tmp_path_factory.mktemp("model") / "ovi-tiny-q4km.gguf"
    subprocess.run([str(BIN / "ovid-gguf"), "synth", str(path), "--preset", "ovi-tiny",
                    "--type", "Q4_K_M", "--seed", "5"], check=True, capture_output=True)
    return path


@pytest.fixture
def start_daemon(tiny_model, tmp_path):
    """start_daemon(*flags, env=None, ready=True) -> Daemon; all are stopped after the test."""
    started = []

    def start(*args, env=None, ready=True, model=None):
        daemon = Daemon(model or tiny_model, tmp_path, args, env=env, ready=ready)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def daemon(start_daemon):
    return start_daemon()


def make_request(client, seed=1, steps=2, tokens=7, **kwargs):
    """A valid request for the loaded model: random embeddings of its text_dim for the prompt
    and both negatives (the daemon has no text encoder)."""
    text_dim = client.model().config.text_dim
    rng = np.random.default_rng(seed + 1000)
    emb = lambda: rng.standard_normal((tokens, text_dim)).astype(np.float32)  # noqa: E731
    fields = dict(embedding=emb(), video_negative=emb(), audio_negative=emb(), seed=seed,
                  steps=steps, outputs=["latents"])
    fields.update(kwargs)
    return ovid_client.build_request(**fields)
