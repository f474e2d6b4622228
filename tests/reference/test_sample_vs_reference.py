"""ovid-forward --mode sample (C++ samplers + model, CPU, f32) against the Python reference loop
(flow_samplers.run with Ovi's CFG: separate video/audio guidance, negative contexts, skip-layer
guidance in the negative pass; the initial noise is the input latents): ‖a−b‖/‖b‖ < 1e-3.
Registered in CMake only when the ovid-forward target exists."""
import subprocess

import pytest
import torch
from safetensors.torch import load_file, save_file

import flow_samplers as fs
from ref_helpers import OVID_FORWARD, rel, synth
from ovi_reference import OviReference

# diffusers 0.42 DPMSolver calls np.array(copy=False) on a tensor: a numpy-2 DeprecationWarning
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOL = 1e-3
STEPS, SHIFT, VIDEO_G, AUDIO_G, SLG = 3, 5.0, 4.0, 3.0, 1


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = synth(tmp_path_factory.mktemp("sample") / "ovi-tiny-bf16.gguf", "BF16", seed=11)
    return path, OviReference.from_gguf(path, dtype=torch.float64)


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(2)
    return {
        "video_latent": torch.randn(48, 2, 4, 4, generator=g),
        "audio_latent": torch.randn(12, 20, generator=g),
        "video_context": torch.randn(6, 256, generator=g),
        "audio_context": torch.randn(8, 256, generator=g),
        "video_negative_context": torch.randn(5, 256, generator=g),
        "audio_negative_context": torch.randn(4, 256, generator=g),
        "timestep": torch.tensor([1000.0]),
    }


@pytest.mark.parametrize("solver", fs.SOLVERS)
def test_sample_matches_reference(model, inputs, solver, tmp_path):
    path, ref = model
    in_path, out_path = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    save_file(inputs, str(in_path))
    cmd = [str(OVID_FORWARD), "--model", str(path), "--inputs", str(in_path), "--out", str(out_path),
           "--mode", "sample", "--device", "cpu", "--dtype", "f32", "--steps", str(STEPS), "--solver", solver,
           "--shift", str(SHIFT), "--video-guidance", str(VIDEO_G), "--audio-guidance", str(AUDIO_G),
           "--slg-layer", str(SLG), "--seed", "42"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}"
    got = load_file(str(out_path))

    model_fn = fs.guided_model_fn(ref.forward, inputs["video_context"], inputs["audio_context"],
                                  inputs["video_negative_context"], inputs["audio_negative_context"],
                                  VIDEO_G, AUDIO_G, slg_layer=SLG)
    want_v, want_a = fs.run(solver, STEPS, SHIFT, model_fn, inputs["video_latent"], inputs["audio_latent"])

    assert got["video_latent"].dtype == torch.float32 and got["audio_latent"].dtype == torch.float32
    assert got["video_latent"].shape == want_v.shape and got["audio_latent"].shape == want_a.shape
    ev, ea = rel(got["video_latent"], want_v), rel(got["audio_latent"], want_a)
    print(f"{solver}: video {ev:.3e} audio {ea:.3e}")
    assert ev < TOL and ea < TOL, (solver, ev, ea)
    # sampling moved the latents away from the initial noise
    assert rel(want_v, inputs["video_latent"]) > 1e-2 and rel(want_a, inputs["audio_latent"]) > 1e-2
