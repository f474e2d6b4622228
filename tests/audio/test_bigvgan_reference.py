"""ovid's BigVGAN v1 vocoder (ovid-audio-cli vocoder) against NVIDIA's BigVGAN from the PyPI
package `bigvgan` (audio_refs.import_bigvgan) with a v1 16 kHz config at small width and random
weights: several mel lengths, the three weight-norm forms and the "generator." prefix, filters
computed when the file has none, GGUF input, bf16, latents -> waveform through both models, and
errors."""
import copy

import pytest
import torch
from safetensors.torch import load_file, save_file

from audio_refs import (cli, parametrized_names, reference_vae_decode, rel_err, run,
                        write_gguf)


def mel(frames, seed):
    return torch.randn(80, frames, generator=torch.Generator().manual_seed(seed))


def reference(model, m):
    with torch.no_grad():
        return model(m.unsqueeze(0))[0, 0]


def save(sd, path):
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


@pytest.mark.parametrize("frames", [1, 6])
def test_vocode_matches_bigvgan(vocoder, tmp_path, frames):
    model, path = vocoder
    m = mel(frames, seed=frames)
    ref = reference(model, m)
    got = run(tmp_path, "vocoder", [path], m)
    assert got.shape == (256 * frames,)
    # A real waveform: not silent, and tanh is not stuck at +-1.
    assert ref.std() > 0.05 and (ref.abs() > 0.99).float().mean() < 0.05
    err = rel_err(got, ref)
    print(f"frames={frames}: rel err {err:.3e}, max abs {float((got - ref).abs().max()):.3e}")
    assert err < 2e-5  # measured 4e-6 to 8e-6 (f32, CPU)


def test_weight_forms_and_prefix_give_the_same_waveform(vocoder, tmp_path):
    model, path = vocoder
    m = mel(4, seed=4)
    base = run(tmp_path, "vocoder", [path], m)
    sd = load_file(str(path))
    assert any(k.endswith("weight_g") for k in sd)  # the fixture is torch's old weight_norm form
    param = save(parametrized_names(sd), tmp_path / "param.safetensors")
    assert torch.equal(run(tmp_path, "vocoder", [param], m), base)
    prefixed = save({f"generator.{k}": v for k, v in sd.items()}, tmp_path / "gen.safetensors")
    assert torch.equal(run(tmp_path, "vocoder", [prefixed], m), base)
    folded_model = copy.deepcopy(model)
    folded_model.remove_weight_norm()  # torch folds: weight = g * v / ||v||
    folded = save(folded_model.state_dict(), tmp_path / "folded.safetensors")
    assert not any(k.endswith("weight_g") for k in load_file(str(folded)))
    err = rel_err(run(tmp_path, "vocoder", [folded], m), base)
    print(f"folded by torch vs folded by ovid: rel err {err:.3e}")
    assert err < 2e-5  # measured 4e-6 to 8e-6 (f32, CPU)


def test_gguf_vocodes_like_safetensors(vocoder, tmp_path):
    _, path = vocoder
    m = mel(2, seed=6)
    base = run(tmp_path, "vocoder", [path], m)
    f32 = tmp_path / "voc.gguf"
    write_gguf(load_file(str(path)), f32)
    assert torch.equal(run(tmp_path, "vocoder", [f32], m), base)


def test_filters_are_computed_when_absent(vocoder, tmp_path):
    model, path = vocoder
    m = mel(3, seed=8)
    sd = {k: v for k, v in load_file(str(path)).items() if not k.endswith(".filter")}
    nofilt = save(sd, tmp_path / "nofilt.safetensors")
    err = rel_err(run(tmp_path, "vocoder", [nofilt], m), reference(model, m))
    print(f"computed filters: rel err {err:.3e}")
    assert err < 2e-5  # measured 4e-6 to 8e-6 (f32, CPU)


def test_bf16_vocode_is_as_close_as_ovis_autocast(vocoder, tmp_path):
    """bf16 drifts from f32 by several percent on these random weights (six stages of bf16 convs
    feed sin()), and so does Ovi's own regime: the module cast to bf16 and run under bf16
    autocast. ovid's bf16 mode must be no worse than that."""
    model, path = vocoder
    m = mel(4, seed=2)
    ref = reference(model, m)
    ovis = copy.deepcopy(model)
    ovis.remove_weight_norm()
    ovis = ovis.bfloat16()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ovi_err = rel_err(ovis(m.unsqueeze(0).bfloat16())[0, 0].float(), ref)
    err = rel_err(run(tmp_path, "vocoder", [path], m, "--dtype", "bf16"), ref)
    print(f"bf16: rel err {err:.3e} (Ovi's bf16 autocast: {ovi_err:.3e})")
    assert 1e-4 < err < 1.5 * ovi_err


def test_latents_to_waveform(vae, vocoder, tmp_path):
    """`audio` mode: Ovi's order, VAE then vocoder; 2L mel frames -> 2L * 256 samples."""
    sd, vae_path = vae
    model, voc_path = vocoder
    z = torch.randn(3, 20, generator=torch.Generator().manual_seed(1))
    ref = reference(model, reference_vae_decode(sd, z).float())
    got = run(tmp_path, "audio", [vae_path, voc_path], z)
    assert got.shape == (3 * 2 * 256,)
    err = rel_err(got, ref)
    print(f"latents -> waveform: rel err {err:.3e}")
    assert err < 1e-4


def test_bad_file_names_file_and_tensors(vocoder, tmp_path):
    _, path = vocoder
    sd = load_file(str(path))
    del sd["resblocks.4.convs2.1.weight_g"]
    sd["resblocks.0.activations.3.act.beta"] = torch.zeros(5)
    bad = save(sd, tmp_path / "bad.safetensors")
    proc = cli("info", bad, check=False)
    assert proc.returncode == 1
    msg = proc.stderr
    assert str(bad) in msg
    assert "1 missing: resblocks.4.convs2.1.weight_g [32, 1, 1]" in msg
    assert "resblocks.0.activations.3.act.beta is [5], expected [64]" in msg


def test_unsupported_stride_is_refused(vocoder, tmp_path):
    _, path = vocoder
    sd = load_file(str(path))
    sd["ups.2.0.weight_v"] = torch.zeros(16, 8, 6)
    bad = save(sd, tmp_path / "k6.safetensors")
    proc = cli("info", bad, check=False)
    assert proc.returncode == 1
    assert "stride" in proc.stderr and "ups.2.0" in proc.stderr
