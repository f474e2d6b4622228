"""Fixtures of the audio decoder reference tests: tiny random models saved as ovid reads them."""
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audio_refs import make_bigvgan, make_vae_state  # noqa: E402

VAE_HIDDEN = 16      # channels 16 / 32 / 64 (VAE_16k: 384 / 768 / 1536)
BIGVGAN_WIDTH = 128  # stages 64 ... 2 channels (the 16 kHz model: 1536 -> 768 ... 24)


@pytest.fixture(scope="session")
def vae(tmp_path_factory):
    d = tmp_path_factory.mktemp("mmaudio_vae")
    sd = make_vae_state(VAE_HIDDEN, seed=0)
    path = d / "vae.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return sd, path


@pytest.fixture(scope="session")
def vocoder(tmp_path_factory):
    d = tmp_path_factory.mktemp("bigvgan")
    model = make_bigvgan(BIGVGAN_WIDTH, seed=0)
    path = d / "bigvgan.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, path
