"""ovid-gguf synth: the real Ovi tensor set (checked against an independent Python description),
quantized by the Ovi rules, deterministic by seed; --plan for the full 11B model."""
import json

import numpy as np
import pytest
from gguf import GGUFReader
from gguf.quants import dequantize

from conftest import MIXES, expected_ovi_type, fields, ovi_layout, run


def tensors(path):
    return {t.name: t for t in GGUFReader(path).tensors}


def test_tiny_tensor_set_shapes_and_types(tmp_path):
    out = tmp_path / "tiny.gguf"
    run("synth", out, "--preset", "ovi-tiny", "--type", "Q4_K_M", "--seed", 1)
    layout = ovi_layout()  # dim 256, ffn 512, 3 layers, ConvMLP hidden 512
    got = tensors(out)
    assert len(got) == 34 * 3 * 2 + 33
    assert set(got) == set(layout)
    for name, (shape, kind) in layout.items():
        t = got[name]
        assert tuple(int(x) for x in reversed(t.shape)) == shape, name
        assert t.tensor_type.name == expected_ovi_type(name, kind, "Q4_K_M", "BF16"), name
    meta = fields(GGUFReader(out))
    assert meta["general.architecture"] == "ovi"
    assert meta["general.file_type"] == MIXES["Q4_K_M"][2]
    assert meta["general.quantization_version"] == 2
    assert meta["ovi.head_dim"] == 128


def test_tiny_weights_have_the_scale_of_their_role(tiny_synth_bf16):
    got = tensors(tiny_synth_bf16)
    assert {t.tensor_type.name for t in got.values()} == {"BF16"}  # default type: unquantized

    def vals(name):
        t = got[name]
        return dequantize(t.data, t.tensor_type).reshape(-1)

    assert np.std(vals("video_model.blocks.0.ffn.2.weight")) == pytest.approx(512 ** -0.5, rel=0.03)
    assert np.std(vals("audio_model.blocks.2.self_attn.q.weight")) == pytest.approx(1 / 16, rel=0.03)
    assert np.std(vals("audio_model.patch_embedding.2.w2.weight")) == pytest.approx(
        (512 * 7) ** -0.5, rel=0.03)
    norm = vals("video_model.blocks.1.self_attn.norm_q.weight")
    assert np.mean(norm) == pytest.approx(1.0, abs=0.01) and np.std(norm) < 0.05
    assert np.std(vals("video_model.blocks.1.ffn.0.bias")) < 0.05
    # Each tensor is its own stream: no two tensors share values.
    assert not np.array_equal(vals("video_model.blocks.0.self_attn.q.weight"),
                              vals("video_model.blocks.0.self_attn.k.weight"))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = tmp_path / "a.gguf", tmp_path / "b.gguf", tmp_path / "c.gguf"
    run("synth", a, "--preset", "ovi-tiny", "--type", "Q4_K_M", "--seed", 42, "--threads", 1)
    run("synth", b, "--preset", "ovi-tiny", "--type", "Q4_K_M", "--seed", 42, "--threads", 2)
    run("synth", c, "--preset", "ovi-tiny", "--type", "Q4_K_M", "--seed", 43)
    assert a.read_bytes() == b.read_bytes()
    ta, tc = tensors(a), tensors(c)
    for name in ta:
        assert ta[name].data.tobytes() != tc[name].data.tobytes(), name


def test_synth_quantizes_like_quantize_with_ovi_rules(tiny_synth_bf16, tmp_path):
    """synth --type M equals synth BF16 then quantize --rules ovi for the BF16 tensors, and its
    quantized tensors are close to the BF16 ones (same random values, encoded from f32)."""
    direct = tmp_path / "direct.gguf"
    run("synth", direct, "--preset", "ovi-tiny", "--type", "Q8_0", "--seed", 3)
    via = tmp_path / "via.gguf"
    run("quantize", tiny_synth_bf16, via, "--type", "Q8_0", "--rules", "ovi")
    d, v, src = tensors(direct), tensors(via), tensors(tiny_synth_bf16)
    for name in d:
        assert d[name].tensor_type == v[name].tensor_type, name
        if d[name].tensor_type.name == "BF16":
            assert d[name].data.tobytes() == v[name].data.tobytes(), name
        else:
            x = dequantize(d[name].data, d[name].tensor_type).reshape(-1)
            ref = dequantize(src[name].data, src[name].tensor_type).reshape(-1)
            assert np.sqrt(np.mean((x - ref) ** 2)) < 0.01 * np.sqrt(np.mean(ref ** 2)), name


def test_full_plan_lists_the_real_model():
    proc = run("synth", "--preset", "ovi-full", "--type", "Q4_K_M", "--plan")
    plan = json.loads(proc.stdout)
    assert plan["totals"]["tensors"] == 2073
    assert plan["totals"]["parameters"] == 11_660_753_108
    by_type = {k: v["tensors"] for k, v in plan["by_type"].items()}
    # 60 blocks x (self_attn.v, cross_attn.v, ffn.2) in Q6_K; the other 9 block Linear weights
    # in Q4_K; everything else stays BF16.
    assert by_type == {"q6_K": 180, "q4_K": 540, "bf16": 1353}
    rows = {t["name"]: t for t in plan["tensors"]}
    assert len(rows) == 2073
    assert rows["video_model.patch_embedding.weight"]["shape"] == [3072, 48, 1, 2, 2]
    assert rows["audio_model.blocks.29.ffn.2.weight"]["type"] == "q6_K"
    assert rows["audio_model.blocks.29.ffn.2.weight"]["bytes"] == 3072 * 14336 // 256 * 210
    assert rows["video_model.blocks.0.cross_attn.v_fusion.weight"]["type"] == "q4_K"
    assert rows["video_model.time_projection.1.weight"]["type"] == "bf16"
    assert sum(t["bytes"] for t in plan["tensors"]) == plan["totals"]["bytes"]
    layout = ovi_layout(dim=3072, ffn=14336, layers=30, text_dim=4096, hidden=8192)
    assert {n: tuple(t["shape"]) for n, t in rows.items()} == {n: s for n, (s, _) in layout.items()}


def test_synth_errors_name_the_problem(tmp_path):
    proc = run("synth", tmp_path / "x.gguf", "--preset", "ovi-huge", check=False)
    assert proc.returncode == 2 and "'ovi-huge'" in proc.stderr
    proc = run("synth", tmp_path / "x.gguf", "--preset", "ovi-tiny", "--type", "Q9_K", check=False)
    assert proc.returncode == 2 and "'Q9_K'" in proc.stderr
    proc = run("synth", tmp_path / "x.gguf", "--preset", "ovi-tiny", "--seed", "-1", check=False)
    assert proc.returncode == 2 and "--seed" in proc.stderr
    proc = run("synth", tmp_path / "no_such_dir" / "x.gguf", "--preset", "ovi-tiny", check=False)
    assert proc.returncode == 1 and "no_such_dir" in proc.stderr
    assert not (tmp_path / "x.gguf").exists()


def test_every_preset_takes_the_joined_flag_form(tmp_path):
    # --preset=NAME was read only by the Ovi presets; the others' dispatch looked for the
    # two-argument form and fell through to "unknown preset".
    for preset, out in (("umt5-tiny", "u.gguf"), ("wan-vae-tiny", "v.safetensors")):
        joined = run("synth", tmp_path / out, f"--preset={preset}", check=False)
        assert joined.returncode == 0, (preset, joined.stderr)
        assert (tmp_path / out).stat().st_size > 0


@pytest.mark.parametrize("name,preset,writes", [
    ("x.gguf", "wan-vae-tiny", "safetensors (.safetensors)"),
    ("x.gguf", "bigvgan-tiny", "safetensors (.safetensors)"),
    ("x.safetensors", "ovi-tiny", "GGUF (.gguf)"), ("x.safetensors", "umt5-tiny", "GGUF (.gguf)"),
])
def test_the_output_name_must_not_claim_the_other_format(tmp_path, name, preset, writes):
    # A .gguf name holding safetensors bytes used to be written, and refused only later by
    # whatever read it ("bad magic"). Other names (a temporary x.gguf.new) stay the caller's.
    proc = run("synth", tmp_path / name, "--preset", preset, check=False)
    assert proc.returncode == 2
    assert f"but this preset writes {writes}" in proc.stderr, proc.stderr
    assert not (tmp_path / name).exists()
    run("synth", tmp_path / "x.new", "--preset", preset)
    assert (tmp_path / "x.new").exists()


def test_a_seed_out_of_range_names_the_range(tmp_path):
    proc = run("synth", tmp_path / "s.gguf", "--preset", "ovi-tiny", "--seed",
               "9223372036854775808", check=False)
    assert proc.returncode == 2
    assert "--seed: '9223372036854775808' is not an integer in [0, 9223372036854775807]" in \
        proc.stderr


def test_the_preset_may_be_given_as_preset_equals(tmp_path):
    run("synth", tmp_path / "v.safetensors", "--preset=bigvgan-tiny")
    assert (tmp_path / "v.safetensors").exists()
