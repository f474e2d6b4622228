"""ovid's UMT5 encoder (ovid-umt5-cli) against the pinned transformers UMT5EncoderModel.

A tiny random UMT5 (seed fixed) is saved with save_pretrained (safetensors), converted to GGUF
with the `gguf` package and run by both. Hugging Face names cannot go into a GGUF as they are:
`encoder.block.N.layer.0.SelfAttention.relative_attention_bias.weight` is 68+ bytes, over GGUF's
63-byte tensor-name limit. So the conversion renames, as llama.cpp's does: to the t5encoder names
(city96's files) and, in one case, to Wan's original .pth names. Both maps are written here from
the spec's tables, independently of ovid's key files.
Tolerances (relative L2 error per prompt, ||ovid - ref|| / ||ref||, fp32 on the CPU):
  - F32 GGUF vs transformers:                                  < 1e-4
  - Q8_0 GGUF vs transformers on the same dequantized weights: < 1e-4 (same numbers in)
  - Q8_0 GGUF vs transformers on the original fp32 weights:    < 3e-2 (Q8_0's own error)
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import dequantize, quantize
from safetensors import safe_open
from safetensors.numpy import load_file
from transformers import UMT5Config, UMT5EncoderModel

CLI = Path(os.environ.get("OVID_BIN", "build/bin")) / "ovid-umt5-cli"

CONFIG = dict(vocab_size=512, d_model=64, d_kv=16, d_ff=96, num_layers=2, num_heads=4,
              relative_attention_num_buckets=32, relative_attention_max_distance=128,
              feed_forward_proj="gated-gelu", dropout_rate=0.0, layer_norm_epsilon=1e-6)

# Prompt lengths reach every bucket range of the spec (distances < 8 exact, up to >= 91).
RNG = np.random.default_rng(7)
PROMPTS = {
    "eos_only": [1],
    "short": [37, 5, 311, 99, 2, 480, 1],
    "medium": RNG.integers(3, 512, 40).tolist() + [1],
    "long": RNG.integers(3, 512, 150).tolist() + [1],
}

# llama.cpp t5encoder names from Hugging Face ones (spec §7, ComfyUI-GGUF's T5_SD_MAP reversed).
HF_TO_GGUF = [
    ("encoder.final_layer_norm", "enc.output_norm"), ("shared.", "token_embd."),
    ("encoder.embed_tokens.", "token_embd."),
    ("encoder.block.", "enc.blk."), ("layer.0.SelfAttention.relative_attention_bias", "attn_rel_b"),
    ("layer.0.SelfAttention.q", "attn_q"), ("layer.0.SelfAttention.k", "attn_k"),
    ("layer.0.SelfAttention.v", "attn_v"), ("layer.0.SelfAttention.o", "attn_o"),
    ("layer.0.layer_norm", "attn_norm"), ("layer.1.DenseReluDense.wi_0", "ffn_gate"),
    ("layer.1.DenseReluDense.wi_1", "ffn_up"), ("layer.1.DenseReluDense.wo", "ffn_down"),
    ("layer.1.layer_norm", "ffn_norm"),
]


# Wan's original .pth names from Hugging Face ones (spec §2 table).
HF_TO_PTH = [
    ("encoder.final_layer_norm", "norm"), ("shared.", "token_embedding."),
    ("encoder.embed_tokens.", "token_embedding."), ("encoder.block.", "blocks."),
    ("layer.0.SelfAttention.relative_attention_bias", "pos_embedding.embedding"),
    ("layer.0.SelfAttention.", "attn."), ("layer.0.layer_norm", "norm1"),
    ("layer.1.layer_norm", "norm2"), ("layer.1.DenseReluDense.wi_0", "ffn.gate.0"),
    ("layer.1.DenseReluDense.wi_1", "ffn.fc1"), ("layer.1.DenseReluDense.wo", "ffn.fc2"),
]


def renamer(table):
    def rename(hf):
        for a, b in table:
            hf = hf.replace(a, b)
        return hf
    return rename


gguf_name = renamer(HF_TO_GGUF)
pth_name = renamer(HF_TO_PTH)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny model saved as transformers saves it; norms perturbed so their scale matters."""
    torch.manual_seed(0)
    model = UMT5EncoderModel(UMT5Config(**CONFIG)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    d = tmp_path_factory.mktemp("umt5")
    model.save_pretrained(d, safe_serialization=True)
    return d


def load_weights(model_dir):
    weights = load_file(str(model_dir / "model.safetensors"))
    assert "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" in weights
    return weights


def is_quantizable(name, array):
    """Linear weights and the token table: what a Q8_0 file of umt5-xxl quantizes."""
    return array.ndim == 2 and "relative_attention_bias" not in name


def write_gguf(path, weights, qtype=None, names=gguf_name):
    """Weights as GGUF; with `qtype`, 2-D weights quantized. Returns the weights as ovid will
    see them (dequantized where quantized)."""
    writer = GGUFWriter(str(path), arch="t5encoder")
    seen = {}
    for name, array in weights.items():
        array = np.ascontiguousarray(array, dtype=np.float32)
        if qtype is not None and is_quantizable(name, array):
            blocks = quantize(array, qtype)
            writer.add_tensor(names(name), blocks, raw_dtype=qtype)
            seen[name] = dequantize(blocks, qtype).reshape(array.shape)
        else:
            writer.add_tensor(names(name), array)
            seen[name] = array
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return seen


def reference(weights, prompts, dtype=torch.float32):
    """transformers on `weights`: one [L_i, 64] f32 array per prompt from one padded batch."""
    model = UMT5EncoderModel(UMT5Config(**CONFIG)).eval()
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()}
    # Tied: save_pretrained keeps one of the two names; give the model both.
    table = state.get("shared.weight", state.get("encoder.embed_tokens.weight"))
    state["shared.weight"] = state["encoder.embed_tokens.weight"] = table
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    model = model.to(dtype)
    width = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, :len(p)] = torch.tensor(p)
        mask[i, :len(p)] = 1
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    return [out[i, :len(p)].float().numpy() for i, p in enumerate(prompts)]


def ovid(model_path, prompts, tmp_path, with_layout=False, extra=()):
    out = tmp_path / "out.safetensors"
    args = [str(CLI), "--model", str(model_path), "--out", str(out), *extra]
    for p in prompts:
        args += ["--ids", ",".join(map(str, p))]
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = load_file(str(out))
    embeddings = [got[f"emb.{i}"] for i in range(len(prompts))]
    if not with_layout:
        return embeddings
    with safe_open(str(out), "np") as f:
        return embeddings, f.metadata()["layout"]


def rel_err(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def check(got, want, tol, label):
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, (label, i, a.shape, b.shape)
        err = rel_err(a, b)
        print(f"{label} prompt {i} ({a.shape[0]} tokens): rel err {err:.2e}")
        assert err < tol, f"{label} prompt {i}: rel err {err:.3e} >= {tol}"


BATCHES = [["eos_only"], ["short"], ["medium"], ["long"], ["short", "long"],
           ["long", "eos_only", "medium"]]


@pytest.mark.parametrize("batch", BATCHES, ids=["+".join(b) for b in BATCHES])
def test_f32_matches_transformers(model_dir, tmp_path, batch):
    weights = load_weights(model_dir)
    path = tmp_path / "umt5-f32.gguf"
    write_gguf(path, weights)
    prompts = [PROMPTS[n] for n in batch]
    check(ovid(path, prompts, tmp_path), reference(weights, prompts), 1e-4, "f32")


def test_wan_pth_names_give_the_same_result(model_dir, tmp_path):
    weights = load_weights(model_dir)
    path = tmp_path / "umt5-pth-f32.gguf"
    write_gguf(path, weights, names=pth_name)
    prompts = [PROMPTS["short"], PROMPTS["long"]]
    got, layout = ovid(path, prompts, tmp_path, with_layout=True)
    assert layout == "pth"
    check(got, reference(weights, prompts), 1e-4, "f32 pth names")


def test_q8_0_matches_transformers_on_dequantized_weights(model_dir, tmp_path):
    weights = load_weights(model_dir)
    path = tmp_path / "umt5-q8_0.gguf"
    seen = write_gguf(path, weights, qtype=GGMLQuantizationType.Q8_0)
    prompts = [PROMPTS["short"], PROMPTS["long"], PROMPTS["eos_only"]]
    got = ovid(path, prompts, tmp_path)
    check(got, reference(seen, prompts), 1e-4, "q8_0 vs dequantized")
    check(got, reference(weights, prompts), 3e-2, "q8_0 vs f32")


def test_the_original_rows_differ_from_another_prompt(model_dir, tmp_path):
    """Guards the comparisons above against an encoder that ignores its input."""
    weights = load_weights(model_dir)
    path = tmp_path / "umt5-f32.gguf"
    write_gguf(path, weights)
    a, b = ovid(path, [PROMPTS["short"], [38, 5, 311, 99, 2, 480, 1]], tmp_path)
    assert rel_err(a, b) > 1e-2


def test_bf16_is_as_close_to_f32_as_transformers_bf16(model_dir, tmp_path):
    """The bf16 compute path (what CUDA runs; here on the CPU): ovid in bf16 must be about as
    far from the fp32 result as transformers' own bf16 run is (bf16 keeps ~3 digits)."""
    weights = load_weights(model_dir)
    path = tmp_path / "umt5-f32.gguf"
    write_gguf(path, weights)
    prompts = [PROMPTS["short"], PROMPTS["long"]]
    exact = reference(weights, prompts)
    ref_bf16 = reference(weights, prompts, dtype=torch.bfloat16)
    got = ovid(path, prompts, tmp_path, extra=["--dtype", "bf16"])
    for i, (a, r, e) in enumerate(zip(got, ref_bf16, exact)):
        ours, theirs = rel_err(a, e), rel_err(r, e)
        print(f"bf16 prompt {i}: ovid vs f32 {ours:.2e}, transformers bf16 vs f32 {theirs:.2e}, "
              f"ovid vs transformers bf16 {rel_err(a, r):.2e}")
        assert ours < 2 * theirs + 1e-3, (i, ours, theirs)
