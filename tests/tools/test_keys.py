"""ovid-gguf keys FILE --expect COMPONENT: the detected layout and every missing, unexpected and
misshaped tensor, for each component, on .pth (torch.save), safetensors and GGUF files; and
convert --component refusing a mismatched file before writing anything."""
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from conftest import ovi_layout, run

# UMT5 at tiny sizes, names of Wan's .pth (models_t5_umt5-xxl-enc-bf16.pth) and of Hugging Face.
UMT5 = dict(vocab=512, d_model=64, layers=2, heads=4, d_kv=16, d_ff=96, buckets=32)


def umt5_pth(c=UMT5):
    inner = c["heads"] * c["d_kv"]
    sd = {"token_embedding.weight": (c["vocab"], c["d_model"]), "norm.weight": (c["d_model"],)}
    for n in range(c["layers"]):
        p = f"blocks.{n}."
        sd |= {p + "norm1.weight": (c["d_model"],), p + "norm2.weight": (c["d_model"],),
               p + "attn.q.weight": (inner, c["d_model"]), p + "attn.k.weight": (inner, c["d_model"]),
               p + "attn.v.weight": (inner, c["d_model"]), p + "attn.o.weight": (c["d_model"], inner),
               p + "pos_embedding.embedding.weight": (c["buckets"], c["heads"]),
               p + "ffn.gate.0.weight": (c["d_ff"], c["d_model"]),
               p + "ffn.fc1.weight": (c["d_ff"], c["d_model"]),
               p + "ffn.fc2.weight": (c["d_model"], c["d_ff"])}
    return {k: torch.randn(*s).to(torch.bfloat16) for k, s in sd.items()}


def hf_name(pth):
    """Wan .pth name -> Hugging Face UMT5EncoderModel name (spec encoders.md §2/§7)."""
    if pth == "token_embedding.weight":
        return "shared.weight"
    if pth == "norm.weight":
        return "encoder.final_layer_norm.weight"
    _, n, *rest = pth.split(".")
    tail = ".".join(rest)
    table = {"norm1.weight": "layer.0.layer_norm.weight", "norm2.weight": "layer.1.layer_norm.weight",
             "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
             "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
             "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
             "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight"}
    for x in "qkvo":
        table[f"attn.{x}.weight"] = f"layer.0.SelfAttention.{x}.weight"
    return f"encoder.block.{n}.{table[tail]}"


def ovi_tensors():
    return {k: torch.zeros(*s) for k, (s, _) in ovi_layout().items()}


def wan_vae_tensors():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wan_vae"))
    pytest.importorskip("diffusers")
    from tiny_wan_vae import make_tiny, original_name
    vae = make_tiny(seed=0)
    return {original_name(k): v.contiguous() for k, v in vae.state_dict().items()}


def keys_json(path, component, *extra):
    proc = run("keys", path, "--expect", component, "--json", *extra, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] == (proc.returncode == 0)
    return report


def damage(tensors, missing, extra, misshaped):
    """Drops `missing`, adds `extra` and gives `misshaped` one more element in its last dim."""
    out = dict(tensors)
    removed_shape = list(out.pop(missing).shape)
    out[extra] = torch.zeros(3)
    shape = list(out[misshaped].shape)
    right = list(shape)
    shape[-1] += 1
    out[misshaped] = torch.zeros(*shape, dtype=out[misshaped].dtype)
    return out, removed_shape, shape, right


CASES = {
    # component: (tensors, layout, missing, extra, misshaped, saver)
    "umt5": (umt5_pth, "pth", "blocks.1.attn.k.weight", "blocks.1.attn.gate.weight",
             "blocks.0.ffn.fc2.weight"),
    "ovi": (ovi_tensors, "release", "audio_model.blocks.2.ffn.0.bias",
            "video_model.blocks.0.extra.weight", "video_model.head.head.weight"),
    "wan_vae": (wan_vae_tensors, "original", "decoder.head.2.bias", "decoder.extra.weight",
                "decoder.middle.0.residual.2.bias"),
}


@pytest.mark.parametrize("component", sorted(CASES))
@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_keys_reports_each_problem(component, fmt, tmp_path):
    make, layout, missing, extra, misshaped = CASES[component]
    tensors = make()

    def save(d, name):
        path = tmp_path / f"{name}.{fmt}"
        if fmt == "pth":
            torch.save(d, path)
        else:
            save_file(d, str(path))
        return path

    good = save(tensors, "good")
    report = keys_json(good, component)
    assert report["ok"] and report["layout"] == layout and report["format"] == fmt
    assert report["missing"] == report["unexpected"] == report["misshaped"] == []
    text = run("keys", good, "--expect", component).stdout
    assert f"layout: {layout}" in text and text.rstrip().endswith("OK")

    bad, removed_shape, bad_shape, right_shape = damage(tensors, missing, extra, misshaped)
    path = save(bad, "bad")
    report = keys_json(path, component)
    assert not report["ok"] and report["layout"] == layout
    assert report["missing"] == [{"name": missing, "shape": removed_shape}]
    assert report["unexpected"] == [{"name": extra, "shape": [3]}]
    assert report["misshaped"] == [{"name": misshaped, "shape": bad_shape, "expected": right_shape}]
    text = run("keys", path, "--expect", component, check=False)
    assert text.returncode == 1 and "MISMATCH" in text.stdout
    for line in (f"missing: 1", f"  {missing} ", f"unexpected: 1", f"  {extra} [3]",
                 f"misshaped: 1"):
        assert line in text.stdout, (line, text.stdout)

    # convert --component refuses the same file in ONE error naming the file and each tensor.
    out = tmp_path / "o.safetensors"
    proc = run("convert", path, out, "--component", component, check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    for fragment in (str(path), missing, extra, misshaped):
        assert fragment in proc.stderr, (fragment, proc.stderr)
    assert not out.exists()


def test_keys_wrong_component_names_the_file(tmp_path):
    path = tmp_path / "t5.pth"
    torch.save(umt5_pth(), path)
    report = keys_json(path, "wan_vae")
    assert not report["ok"] and str(path) in report["error"]
    proc = run("keys", path, "--expect", "nope", check=False)
    assert proc.returncode == 2 and "nope" in proc.stderr
    proc = run("keys", tmp_path / "missing.pth", "--expect", "umt5", check=False)
    assert proc.returncode == 1 and "missing.pth" in proc.stderr
    # --head-dim is Ovi's: refused for another component, as convert refuses it (it was ignored).
    proc = run("keys", path, "--expect", "umt5", "--head-dim", "64", check=False)
    assert proc.returncode == 2 and "--head-dim applies to --expect ovi only" in proc.stderr


def test_umt5_hf_names_need_safetensors_not_gguf(tmp_path):
    tensors = {hf_name(k): v for k, v in umt5_pth().items()}
    src = tmp_path / "umt5-hf.pth"
    torch.save(tensors, src)
    report = keys_json(src, "umt5")
    assert report["ok"] and report["layout"] == "hf"
    proc = run("convert", src, tmp_path / "u.gguf", check=False)
    assert proc.returncode == 1
    assert "63-byte limit" in proc.stderr and ".safetensors" in proc.stderr
    assert "relative_attention_bias" in proc.stderr
    out = tmp_path / "u.safetensors"
    proc = run("convert", src, out)
    assert "umt5 (hf layout" in proc.stdout  # detected without --component
    assert keys_json(out, "umt5")["ok"]


def test_keys_on_gguf_and_select_prefix(tmp_path):
    src = tmp_path / "t5.pth"
    torch.save({"model": umt5_pth()}, src)
    out = tmp_path / "t5.gguf"
    run("convert", src, out, "--select", "model", "--component", "umt5")
    report = keys_json(out, "umt5")
    assert report["ok"] and report["format"] == "gguf" and report["layout"] == "pth"
    # safetensors with a prefix: --select keeps and strips it.
    prefixed = tmp_path / "prefixed.safetensors"
    save_file({f"text_encoder.{k}": v for k, v in umt5_pth().items()}, str(prefixed))
    assert "not a UMT5 encoder" in keys_json(prefixed, "umt5")["error"]
    assert keys_json(prefixed, "umt5", "--select", "text_encoder")["ok"]


@pytest.mark.parametrize("component,preset,select,victim", [
    ("mmaudio_vae", "mmaudio-vae-tiny", "", "decoder.mid.attn_1.proj_out.weight"),
    ("bigvgan", "bigvgan-tiny", "generator", "conv_post.bias")])
def test_audio_components_from_pth(component, preset, select, victim, tmp_path):
    """The released audio checkpoints are .pth (v1-16.pth flat, best_netG.pt under 'generator'):
    a synthetic set in their names, saved that way, converts and checks; a damaged one is
    refused with the file and the tensor named. (Their layout libraries report one error, not
    lists, so the JSON carries it under "error".)"""
    from safetensors.torch import load_file
    synth = tmp_path / f"{preset}.safetensors"
    run("synth", synth, "--preset", preset)
    sd = load_file(str(synth))
    src = tmp_path / f"{component}.pth"
    torch.save({"generator": sd, "optimizer": {"lr": 1.0}} if select else sd, src)
    extra = ("--select", select) if select else ()
    report = keys_json(src, component, *extra)
    assert report["ok"], report
    out = tmp_path / "out.safetensors"
    run("convert", src, out, "--component", component, *extra)
    got = load_file(str(out))
    assert set(got) == set(sd)
    for k, v in sd.items():
        assert torch.equal(got[k], v), k

    damaged = dict(sd)
    del damaged[victim]
    bad = tmp_path / "bad.pth"
    torch.save({"generator": damaged} if select else damaged, bad)
    report = keys_json(bad, component, *extra)
    assert not report["ok"] and str(bad) in report["error"] and victim in report["error"]
    proc = run("convert", bad, tmp_path / "bad.safetensors", "--component", component, *extra,
               check=False)
    assert proc.returncode == 1 and victim in proc.stderr and str(bad) in proc.stderr
