"""ovid-forward --mode forward (C++, LibTorch, CPU, f32) against the Python reference
(ovi_reference.py, float64) on ovi-tiny GGUFs: ‖a−b‖/‖b‖ < 1e-4 for out_video and out_audio.
Registered in CMake only when the ovid-forward target exists."""
import subprocess

import pytest
import torch
from safetensors.torch import load_file, save_file

from ref_helpers import OVID_FORWARD, rel, synth
from ovi_reference import OviReference

TOL = 1e-4
# (timestep, first_frame_clean, slg_layer)
CASES = [(700.0, False, -1), (999.0, True, -1), (250.0, False, 1), (37.5, True, 2)]


def make_inputs(seed, text_dim=256, F=2, H=4, W=6, L=15, Lt_v=7, Lt_a=9):
    g = torch.Generator().manual_seed(seed)
    return {
        "video_latent": torch.randn(48, F, H, W, generator=g),
        "audio_latent": torch.randn(L, 20, generator=g),
        "video_context": torch.randn(Lt_v, text_dim, generator=g),
        "audio_context": torch.randn(Lt_a, text_dim, generator=g),
    }


def forward_cmd(model, inputs_path, out_path, first_frame_clean=False, slg_layer=-1, extra=()):
    cmd = [str(OVID_FORWARD), "--model", str(model), "--inputs", str(inputs_path), "--out", str(out_path),
           "--mode", "forward", "--device", "cpu", "--dtype", "f32", *extra]
    if first_frame_clean:
        cmd.append("--first-frame-clean")
    if slg_layer >= 0:
        cmd += ["--slg-layer", str(slg_layer)]
    return cmd


def run_forward(model, inputs_path, out_path, first_frame_clean, slg_layer, extra=()):
    cmd = forward_cmd(model, inputs_path, out_path, first_frame_clean, slg_layer, extra)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}"
    return load_file(str(out_path)), proc.stderr


@pytest.fixture(scope="module", params=["BF16", "Q8_0", "Q4_K_M"])
def model(request, tmp_path_factory):
    path = synth(tmp_path_factory.mktemp("fwd") / f"ovi-tiny-{request.param}.gguf", request.param, seed=7)
    return path, OviReference.from_gguf(path, dtype=torch.float64)


def test_forward_matches_reference(model, tmp_path):
    path, ref = model
    inputs = make_inputs(seed=1)
    outputs = []
    for n, (t, ffc, slg) in enumerate(CASES):
        tensors = dict(inputs, timestep=torch.tensor([t], dtype=torch.float32))
        in_path = tmp_path / f"in{n}.safetensors"
        save_file(tensors, str(in_path))
        got, _ = run_forward(path, in_path, tmp_path / f"out{n}.safetensors", ffc, slg)
        want_v, want_a = ref(inputs["video_latent"], inputs["audio_latent"], inputs["video_context"],
                             inputs["audio_context"], t, ffc, slg)
        assert got["out_video"].dtype == torch.float32 and got["out_audio"].dtype == torch.float32
        assert tuple(got["out_video"].shape) == tuple(inputs["video_latent"].shape)
        assert tuple(got["out_audio"].shape) == tuple(inputs["audio_latent"].shape)
        ev, ea = rel(got["out_video"], want_v), rel(got["out_audio"], want_a)
        print(f"{path.name} t={t} first_frame_clean={ffc} slg={slg}: video {ev:.3e} audio {ea:.3e}")
        assert ev < TOL and ea < TOL, (t, ffc, slg, ev, ea)
        outputs.append(want_v)
    # the cases exercise different code paths: their outputs differ clearly
    for i in range(len(outputs)):
        for j in range(i):
            assert rel(outputs[i], outputs[j]) > 1e-3


def test_weight_modes_give_the_same_output(model, tmp_path):
    """--weights lazy, eager and cache (a budget that holds every layer, one that holds none)
    expand the same blocks to the same f32 weights, so the outputs are identical; the accounting
    line shows what the cache holds."""
    path, _ = model
    tensors = dict(make_inputs(seed=3), timestep=torch.tensor([500.0], dtype=torch.float32))
    in_path = tmp_path / "in.safetensors"
    save_file(tensors, str(in_path))
    runs = {}
    for name, extra in {"lazy": ["--weights", "lazy"], "eager": ["--weights", "eager"],
                        "cache-all": ["--weights", "cache", "--cache-budget", str(1 << 30)],
                        "cache-none": ["--weights", "cache", "--cache-budget", "0"]}.items():
        runs[name] = run_forward(path, in_path, tmp_path / f"{name}.safetensors", False, -1, extra)
    lazy, _ = runs["lazy"]
    for name, (got, _) in runs.items():
        for key in ("out_video", "out_audio"):
            assert torch.equal(got[key], lazy[key]), (name, key, rel(got[key], lazy[key]))
    quantized = "BF16" not in path.name
    all_line = runs["cache-all"][1]
    assert "cache 0.0 MB (0 layers)" in runs["cache-none"][1]
    if quantized:
        assert "cache 0.0 MB" not in all_line and " layers)" in all_line, all_line


def test_bad_weight_flags_are_refused(model, tmp_path):
    path, _ = model
    for extra, message in [(["--weights", "lazy", "--cache-budget", "5"], "applies only to --weights cache"),
                           (["--weights", "cache", "--cache-budget", "-1"], "not a byte count"),
                           (["--weights", "dense"], "--weights must be lazy, eager or cache")]:
        proc = subprocess.run(forward_cmd(path, tmp_path / "none.safetensors", tmp_path / "out.safetensors",
                                          extra=extra), capture_output=True, text=True)
        assert proc.returncode == 2 and message in proc.stderr, (extra, proc.returncode, proc.stderr)
