"""Fixtures of the Wan VAE reference tests: one tiny random model, saved in both layouts."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_wan_vae import make_tiny, save_diffusers, save_original  # noqa: E402


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("wan_vae")
    vae = make_tiny(seed=0)
    save_diffusers(vae, d / "tiny-diffusers.safetensors")
    save_original(vae, d / "tiny-original.safetensors")
    return vae, d
