#!/usr/bin/env python3
"""Runs the original Ovi denoiser (github character-ai/Ovi, exported to .ovi-original/ by
export-original.sh) as a reference for ovid: the same weights and inputs through both, and the
original's own step time at full size. Nothing of the original is copied here or edited: its
modules are imported from --ovi-src and the few run-time substitutions are listed below.

Modes
  compare   Original FusionModel built to the shapes of an ovid GGUF (e.g. `ovid-gguf synth
            --preset ovi-tiny --type F32`), loaded with its tensors (the GGUF keys are the
            original's state-dict names), run for one guidance branch per case, as
            OviFusionEngine.generate calls it; `ovid-forward --mode forward` runs on the same
            GGUF and inputs; prints ‖a−b‖/‖b‖ for out_video and out_audio.
  time      The full-size original (ovi/configs/model/dit/{video,audio}.json: 30 blocks, dim
            3072, ffn 14336, 24 heads) with random bf16 weights on CUDA; times one denoising
            step (the positive pass + the negative pass with skip-layer guidance, then CFG) at
            704x704 5 s and 960x960 10 s; peak torch.cuda.max_memory_allocated.
  original-forward   (internal) one precision of the original on given inputs; compare starts
            it as a child process, because the f32 variant needs `python -O` (see below).

Run-time substitutions (the original files are not modified)
  * Attention: the original calls flash-attn's varlen kernels (`flash_attention` in
    ovi/modules/attention.py, imported by name into model.py and fusion.py; it asserts that
    flash-attn is installed and that tensors are on CUDA). The name is rebound in those three
    modules to `sdpa_attention` below: the same argument handling (q/k/v cast to bf16 unless
    already half, k_lens as a key-padding mask, output cast back to q's dtype), computed with
    torch.nn.functional.scaled_dot_product_attention.
  * Package `ovi.modules`: its __init__.py imports the T5 text encoder, tokenizers (transformers,
    ftfy) and the Wan VAE, none of which the denoiser's forward pass uses; it is registered as a
    bare package so that only attention.py, model.py and fusion.py are loaded.
  * diffusers (ConfigMixin/ModelMixin/register_to_config, the WanModel base classes: config
    bookkeeping and save/load, not used by forward) is imported for real when available (the
    venv, or .ovi-original/pydeps carried to the GPU machine); only if it cannot be imported at
    all is a minimal stand-in installed, and the run says so.
  * The tiny preset's audio ConvMLP width: the original derives it as
    256*ceil(int(2*4*dim/3)/256) (8192 at dim 3072); ovi-tiny stores 512 at dim 256, so the
    original ConvMLP class is instantiated with arguments that give the stored width.
  * Precision "f32" (the original's graph in float32): the original is written for bf16 -- its
    norms, RoPE, modulation and outputs call `.bfloat16()` explicitly and several asserts check
    for bf16, independent of the weights' dtype. For an f32 comparison the child process runs
    under `python -O` (asserts off), `torch.Tensor.bfloat16` casts to float32 instead, and
    `torch.amp.autocast` is a no-op. Precision "bf16" is the original as it runs in
    OviFusionEngine: weights and inputs bf16, under autocast(bf16), every cast as written.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# ------------------------------------------------------------------------------------------------
# Attention substitute
# ------------------------------------------------------------------------------------------------

F32_MODE = False            # set in the f32 child: q/k/v are not cast to bf16
SDPA_BACKEND = "auto"       # auto | flash | efficient | cudnn | math
BACKENDS_SEEN: set = set()  # what SDPA picked (auto) or was told to use


def _backend_name(q, k, v, mask):
    if SDPA_BACKEND != "auto":
        return SDPA_BACKEND
    try:
        from torch.nn.attention import SDPBackend
        choice = torch._fused_sdp_choice(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)
        return SDPBackend(choice).name.lower()
    except Exception:  # noqa: BLE001 -- reporting only
        return "auto(unknown)"


def _sdpa_context():
    if SDPA_BACKEND == "auto":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    b = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
         "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}[SDPA_BACKEND]
    return sdpa_kernel([b])


def sdpa_attention(q, k, v, q_lens=None, k_lens=None, dropout_p=0., softmax_scale=None,
                   q_scale=None, causal=False, window_size=(-1, -1), deterministic=False,
                   dtype=torch.bfloat16, version=None):
    """Drop-in for ovi.modules.attention.flash_attention. q [B,Lq,N,C], k/v [B,Lk,N,C]."""
    half_dtypes = (torch.float16, torch.bfloat16)
    b, lq, lk, out_dtype = q.size(0), q.size(1), k.size(1), q.dtype
    assert tuple(window_size) == (-1, -1), "windowed attention is not used by Ovi"
    if q_lens is not None:  # varlen packing with shorter queries: never the case in Ovi (B=1)
        assert all(int(n) == lq for n in q_lens), "q_lens shorter than Lq is not supported"
    if not F32_MODE:
        def half(x):
            return x if x.dtype in half_dtypes else x.to(dtype)
        q, k, v = half(q), half(k), half(v)
    else:
        v = v.float()
    q = q.to(v.dtype)
    k = k.to(v.dtype)
    if q_scale is not None:
        q = q * q_scale
    mask = None
    if k_lens is not None and any(int(n) < lk for n in k_lens):
        mask = (torch.arange(lk, device=k.device)[None, :] < k_lens.to(k.device)[:, None])
        mask = mask[:, None, None, :]  # [B,1,1,Lk]
    qt, kt, vt = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    BACKENDS_SEEN.add(_backend_name(qt, kt, vt, mask))
    with _sdpa_context():
        x = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask, dropout_p=dropout_p,
                                           is_causal=causal, scale=softmax_scale)
    return x.transpose(1, 2).type(out_dtype)


# ------------------------------------------------------------------------------------------------
# Importing the original
# ------------------------------------------------------------------------------------------------

DIFFUSERS_NOTE = ""


def _install_diffusers_stub():
    """Only when diffusers is missing: WanModel(ModelMixin, ConfigMixin) with @register_to_config.
    Neither base class takes part in forward (ModelMixin is an nn.Module with save/load helpers)."""
    global DIFFUSERS_NOTE
    DIFFUSERS_NOTE = "diffusers: not importable, stand-in ModelMixin/ConfigMixin used"
    d = types.ModuleType("diffusers")
    cu = types.ModuleType("diffusers.configuration_utils")
    mu = types.ModuleType("diffusers.models.modeling_utils")
    dm = types.ModuleType("diffusers.models")

    class ConfigMixin:  # noqa: D401
        pass

    def register_to_config(init):
        return init

    class ModelMixin(torch.nn.Module):
        pass

    cu.ConfigMixin, cu.register_to_config, mu.ModelMixin = ConfigMixin, register_to_config, ModelMixin
    d.configuration_utils, d.models, dm.modeling_utils = cu, dm, mu
    sys.modules.update({"diffusers": d, "diffusers.configuration_utils": cu,
                        "diffusers.models": dm, "diffusers.models.modeling_utils": mu})


def import_original(ovi_src: Path):
    """Returns (fusion module, model module). See the module docstring for what is substituted."""
    global DIFFUSERS_NOTE
    ovi_src = Path(ovi_src).resolve()
    if not (ovi_src / "ovi" / "modules" / "fusion.py").is_file():
        sys.exit(f"run_original: {ovi_src} holds no ovi/modules/fusion.py "
                 "(export it with bench/original/export-original.sh)")
    sys.path.insert(0, str(ovi_src))
    pydeps = ovi_src / "pydeps"
    if pydeps.is_dir():
        sys.path.append(str(pydeps))  # after site-packages: installed packages win
    try:
        import diffusers.configuration_utils  # noqa: F401
        import diffusers.models.modeling_utils  # noqa: F401
        import diffusers
        DIFFUSERS_NOTE = f"diffusers {diffusers.__version__} ({Path(diffusers.__file__).parent.parent})"
    except Exception:  # noqa: BLE001
        for name in [n for n in sys.modules if n == "diffusers" or n.startswith("diffusers.")]:
            del sys.modules[name]
        _install_diffusers_stub()
    # Bare `ovi.modules` package: skip its __init__ (T5, tokenizers, VAE; unused by the denoiser).
    import ovi  # the original's ovi/__init__.py is empty
    pkg = types.ModuleType("ovi.modules")
    pkg.__path__ = [str(ovi_src / "ovi" / "modules")]
    pkg.__package__ = "ovi.modules"
    sys.modules["ovi.modules"] = pkg
    ovi.modules = pkg
    import ovi.modules.attention as oattn
    import ovi.modules.model as omodel
    import ovi.modules.fusion as ofusion
    for m in (oattn, omodel, ofusion):
        m.flash_attention = sdpa_attention
    return ofusion, omodel


def commit_of(ovi_src: Path):
    f = Path(ovi_src) / ".ovi-commit"
    return f.read_text().strip() if f.is_file() else "unknown"


# ------------------------------------------------------------------------------------------------
# GGUF -> config and state dict
# ------------------------------------------------------------------------------------------------


def load_gguf(path):
    """{name: float32 tensor (torch order)}, {ovi.* metadata}. Quantized types are dequantized."""
    import numpy as np
    import gguf
    reader = gguf.GGUFReader(str(path))
    weights = {}
    for t in reader.tensors:
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        values = gguf.quants.dequantize(t.data, t.tensor_type)
        weights[t.name] = torch.from_numpy(np.array(values, dtype=np.float32)).reshape(shape)
    meta = {n: f.contents() for n, f in reader.fields.items() if n.startswith("ovi.")}
    return weights, meta


def configs_from_gguf(w, meta):
    head_dim = int(meta.get("ovi.head_dim", 128))
    text_len = int(meta.get("ovi.text_len", 512))
    rope_scale = float(meta.get("ovi.audio_rope_scale", 0.19676))

    def tower(p):
        dim = w[p + "time_embedding.2.weight"].shape[0]
        layers = 1 + max(int(m.group(1)) for k in w if (m := re.match(re.escape(p) + r"blocks\.(\d+)\.", k)))
        cfg = dict(dim=dim, ffn_dim=w[p + "blocks.0.ffn.0.weight"].shape[0],
                   freq_dim=w[p + "time_embedding.0.weight"].shape[1],
                   text_dim=w[p + "text_embedding.0.weight"].shape[1], num_heads=dim // head_dim,
                   num_layers=layers, text_len=text_len, window_size=[-1, -1], qk_norm=True,
                   cross_attn_norm=True, eps=1e-6)
        if p == "video_model.":
            pe = w[p + "patch_embedding.weight"]  # [D, Cin, pt, ph, pw]
            patch = list(pe.shape[2:])
            cfg.update(model_type="ti2v", patch_size=patch, in_dim=pe.shape[1],
                       out_dim=w[p + "head.head.weight"].shape[0] // math.prod(patch))
        else:
            cfg.update(model_type="t2a", patch_size=[1],
                       in_dim=w[p + "patch_embedding.0.weight"].shape[1],
                       out_dim=w[p + "head.head.weight"].shape[0],
                       temporal_rope_scaling_factor=rope_scale)
        return cfg

    return tower("video_model."), tower("audio_model.")


def build_fusion(ofusion, omodel, video_cfg, audio_cfg, audio_mlp_hidden=None):
    model = ofusion.FusionModel(video_cfg, audio_cfg)
    pe = model.audio_model.patch_embedding
    if audio_mlp_hidden is not None and pe[2].w1.out_channels != audio_mlp_hidden:
        # The original ConvMLP computes hidden = multiple_of*ceil(int(2*h/3)/multiple_of);
        # h = 1.5*width, multiple_of = 1 gives `width` exactly (see the module docstring).
        dim = audio_cfg["dim"]
        pe[2] = omodel.ConvMLP(dim, 1.5 * audio_mlp_hidden, multiple_of=1, kernel_size=7, padding=3)
        assert pe[2].w1.out_channels == audio_mlp_hidden
    return model


def load_into(model, w):
    sd = model.state_dict()
    missing = [k for k in sd if k not in w]
    unexpected = [k for k in w if k not in sd]
    if missing or unexpected:
        sys.exit(f"run_original: GGUF/state-dict mismatch: missing {missing[:8]} "
                 f"({len(missing)}), unexpected {unexpected[:8]} ({len(unexpected)})")
    new = {}
    for k, p in sd.items():
        t = w[k]
        if tuple(t.shape) != tuple(p.shape):
            if t.numel() != p.numel():
                sys.exit(f"run_original: {k}: GGUF {tuple(t.shape)} vs original {tuple(p.shape)}")
            t = t.reshape(p.shape)  # e.g. modulation [6,D] (llama-quantize) -> [1,6,D]
        new[k] = t
    model.load_state_dict(new, strict=True)


# ------------------------------------------------------------------------------------------------
# original-forward (child): one precision, all cases
# ------------------------------------------------------------------------------------------------


def parse_cases(text):
    """"t:ffc:slg,..." -> [(t, bool, int)]."""
    cases = []
    for c in text.split(","):
        t, ffc, slg = c.split(":")
        cases.append((float(t), ffc in ("1", "true", "True"), int(slg)))
    return cases


def case_tag(i, case):
    return f"case{i}_t{case[0]:g}_ffc{int(case[1])}_slg{case[2]}"


def cmd_original_forward(a):
    global F32_MODE, SDPA_BACKEND
    SDPA_BACKEND = a.sdpa_backend
    prec = a.precision
    device = torch.device(a.device)
    if prec == "f32":
        assert sys.flags.optimize >= 1, "the f32 variant runs under python -O (see docstring)"
        F32_MODE = True
    ofusion, omodel = import_original(a.ovi_src)
    if prec == "f32":
        torch.Tensor.bfloat16 = lambda self, *args, **kw: self.to(torch.float32)
        torch.amp.autocast = lambda *args, **kw: contextlib.nullcontext()
        # Full f32 on CUDA: no TF32 in the patch-embedding convolutions or matmuls.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    from safetensors.torch import load_file, save_file

    w, meta = load_gguf(a.gguf)
    vcfg, acfg = configs_from_gguf(w, meta)
    model = build_fusion(ofusion, omodel, vcfg, acfg, w["audio_model.patch_embedding.2.w1.weight"].shape[0])
    load_into(model, w)
    dt = torch.float32 if prec == "f32" else torch.bfloat16
    model = model.to(device=device, dtype=dt).eval()   # OviFusionEngine: model.to(bf16) ...
    model.set_rope_params()                              # ... then set_rope_params()

    inp = load_file(a.inputs)
    video = inp["video_latent"].to(device, dt)
    audio = inp["audio_latent"].to(device, dt)
    ctx_v = inp["video_context"].to(device, dt)
    ctx_a = inp["audio_context"].to(device, dt)
    pt, ph, pw = model.video_model.patch_size
    vid_seq_len = video.shape[1] * video.shape[2] * video.shape[3] // (ph * pw)  # as generate()
    audio_seq_len = audio.shape[0]
    if prec == "f32":
        autocast = contextlib.nullcontext()
    else:
        autocast = torch.autocast(device.type, dtype=torch.bfloat16)
    cases = parse_cases(a.cases)
    outs = {}
    with torch.inference_mode(), autocast:
        for i, (t, ffc, slg) in enumerate(cases):
            tin = torch.full((1,), t, device=device, dtype=torch.float32)
            kw = dict(vid_context=[ctx_v], audio_context=[ctx_a], vid_seq_len=vid_seq_len,
                      audio_seq_len=audio_seq_len, first_frame_is_clean=ffc)
            if slg >= 0:
                kw["slg_layer"] = slg
            pv, pa = model(vid=[video], audio=[audio], t=tin, **kw)
            tag = case_tag(i, (t, ffc, slg))
            outs[f"{tag}.out_video"] = pv[0].float().cpu().contiguous()
            outs[f"{tag}.out_audio"] = pa[0].float().cpu().contiguous()
    if a.sample_steps:
        outs.update(original_sample(a, model, video, audio, ctx_v, ctx_a,
                                    inp["video_negative_context"].to(device, dt),
                                    inp["audio_negative_context"].to(device, dt),
                                    vid_seq_len, audio_seq_len, device, autocast))
    save_file(outs, a.out)
    print(f"original-forward {prec} {a.device}: {len(cases)} cases, attention {sorted(BACKENDS_SEEN)}; "
          f"{DIFFUSERS_NOTE}")


def original_schedulers(solver, steps, shift, device):
    """The scheduler set-up of OviFusionEngine.get_scheduler_time_steps (the original's classes in
    ovi/utils; the engine itself imports the VAEs, T5, Flux and optimum-quanto, so it is not
    imported). Returns (scheduler, timesteps)."""
    from ovi.utils.fm_solvers_unipc import FlowUniPCMultistepScheduler
    from ovi.utils.fm_solvers import (FlowDPMSolverMultistepScheduler, get_sampling_sigmas,
                                      retrieve_timesteps)
    from diffusers import FlowMatchEulerDiscreteScheduler
    torch.manual_seed(4)
    if solver == "unipc":
        sch = FlowUniPCMultistepScheduler(num_train_timesteps=1000, shift=1, use_dynamic_shifting=False)
        sch.set_timesteps(steps, device=device, shift=shift)
        return sch, sch.timesteps
    if solver == "dpm++":
        sch = FlowDPMSolverMultistepScheduler(num_train_timesteps=1000, shift=1, use_dynamic_shifting=False)
        ts, _ = retrieve_timesteps(sch, device=device, sigmas=get_sampling_sigmas(steps, shift=shift))
        return sch, ts
    if solver == "euler":
        sch = FlowMatchEulerDiscreteScheduler(shift=shift)
        ts, _ = retrieve_timesteps(sch, steps, device=device)
        return sch, ts
    raise ValueError(solver)


def original_sample(a, model, video, audio, ctx_v, ctx_a, neg_v, neg_a, vid_seq_len, audio_seq_len,
                    device, autocast):
    """The t2v sampling loop of OviFusionEngine.generate (positive pass, negative pass with
    skip-layer guidance, separate video/audio CFG, one scheduler per modality), started from the
    input latents as the noise, as `ovid-forward --mode sample` does."""
    sv, tv = original_schedulers(a.solver, a.sample_steps, a.shift, device)
    sa, ta = original_schedulers(a.solver, a.sample_steps, a.shift, device)
    video_noise, audio_noise = video.clone(), audio.clone()
    with torch.inference_mode(), autocast:
        for t_v, t_a in zip(tv, ta):
            tin = torch.full((1,), t_v, device=device)
            common = dict(vid_seq_len=vid_seq_len, audio_seq_len=audio_seq_len, first_frame_is_clean=False)
            pv, pa = model(vid=[video_noise], audio=[audio_noise], t=tin, vid_context=[ctx_v],
                           audio_context=[ctx_a], **common)
            nv, na = model(vid=[video_noise], audio=[audio_noise], t=tin, vid_context=[neg_v],
                           audio_context=[neg_a], slg_layer=a.sample_slg_layer, **common)
            gv = nv[0] + a.video_guidance * (pv[0] - nv[0])
            ga = na[0] + a.audio_guidance * (pa[0] - na[0])
            video_noise = sv.step(gv.unsqueeze(0), t_v, video_noise.unsqueeze(0), return_dict=False)[0].squeeze(0)
            audio_noise = sa.step(ga.unsqueeze(0), t_a, audio_noise.unsqueeze(0), return_dict=False)[0].squeeze(0)
    return {"sample.video_latent": video_noise.float().cpu().contiguous(),
            "sample.audio_latent": audio_noise.float().cpu().contiguous()}


# ------------------------------------------------------------------------------------------------
# compare
# ------------------------------------------------------------------------------------------------


def rel(a, b):
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


def make_inputs(path, text_dim, seed=1, F_=2, H=4, W=6, L=15, lt_v=7, lt_a=9):
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(seed)
    save_file({"video_latent": torch.randn(48, F_, H, W, generator=g),
               "audio_latent": torch.randn(L, 20, generator=g),
               "video_context": torch.randn(lt_v, text_dim, generator=g),
               "audio_context": torch.randn(lt_a, text_dim, generator=g),
               "video_negative_context": torch.randn(lt_v - 2, text_dim, generator=g),
               "audio_negative_context": torch.randn(lt_a - 3, text_dim, generator=g),
               "timestep": torch.tensor([500.0])}, str(path))


def cmd_compare(a):
    from safetensors.torch import load_file, save_file
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gguf_path = Path(a.gguf)
    if a.inputs:
        inputs = Path(a.inputs)
    else:
        sys.path.append(str(Path(a.ovi_src).resolve() / "pydeps"))
        w, _ = load_gguf(gguf_path)
        inputs = out_dir / "inputs.safetensors"
        make_inputs(inputs, w["video_model.text_embedding.0.weight"].shape[1], seed=a.seed)
        del w
    base = {k: v for k, v in load_file(str(inputs)).items() if k != "timestep"}
    do_sample = a.sample_steps > 0 and "video_negative_context" in base
    if a.sample_steps > 0 and not do_sample:
        print("compare: the inputs have no negative contexts: sample comparison skipped")
    sample_args = ["--sample-steps", str(a.sample_steps), "--solver", a.solver, "--shift", str(a.shift),
                   "--video-guidance", str(a.video_guidance), "--audio-guidance", str(a.audio_guidance),
                   "--sample-slg-layer", str(a.sample_slg_layer)]
    sample_tag = f"sample_{a.solver}_{a.sample_steps}steps_slg{a.sample_slg_layer}"
    precisions = a.precisions.split(",")
    cases = parse_cases(a.cases)
    me = str(Path(__file__).resolve())
    results = {}  # (who, prec) -> {tag: (video, audio)}
    for prec in precisions:
        o = out_dir / f"original-{prec}.safetensors"
        cmd = [sys.executable] + (["-O"] if prec == "f32" else []) + [
            me, "--ovi-src", a.ovi_src, "original-forward", "--gguf", str(gguf_path), "--inputs",
            str(inputs), "--out", str(o), "--precision", prec, "--device", a.device,
            "--cases", a.cases, "--sdpa-backend", a.sdpa_backend]
        if do_sample:
            cmd += sample_args
        r = subprocess.run(cmd, text=True, capture_output=True)
        if r.returncode != 0:
            sys.exit(f"run_original: original {prec} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        print(r.stdout.strip())
        t = load_file(str(o))
        results[("original", prec)] = {case_tag(i, c): (t[case_tag(i, c) + ".out_video"],
                                                         t[case_tag(i, c) + ".out_audio"])
                                       for i, c in enumerate(cases)}
        if do_sample:
            results[("original", prec)][sample_tag] = (t["sample.video_latent"], t["sample.audio_latent"])
    if a.ovid_forward:
        for prec in precisions:
            res = {}
            for i, (tv, ffc, slg) in enumerate(cases):
                tag = case_tag(i, (tv, ffc, slg))
                cin = out_dir / f"inputs-{tag}.safetensors"
                fwd = {k: v for k, v in base.items() if "negative" not in k}  # forward mode rejects them
                save_file(dict(fwd, timestep=torch.tensor([tv], dtype=torch.float32)), str(cin))
                o = out_dir / f"ovid-{prec}-{tag}.safetensors"
                cmd = [a.ovid_forward, "--model", str(gguf_path), "--inputs", str(cin), "--out", str(o),
                       "--mode", "forward", "--device", a.device, "--dtype", prec] + a.ovid_args.split()
                if ffc:
                    cmd.append("--first-frame-clean")
                if slg >= 0:
                    cmd += ["--slg-layer", str(slg)]
                r = subprocess.run(cmd, text=True, capture_output=True)
                if r.returncode != 0:
                    sys.exit(f"run_original: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
                t = load_file(str(o))
                res[tag] = (t["out_video"], t["out_audio"])
            if do_sample:
                sin = out_dir / "inputs-sample.safetensors"
                save_file(dict(base, timestep=torch.tensor([1000.0])), str(sin))
                o = out_dir / f"ovid-{prec}-{sample_tag}.safetensors"
                cmd = [a.ovid_forward, "--model", str(gguf_path), "--inputs", str(sin), "--out", str(o),
                       "--mode", "sample", "--device", a.device, "--dtype", prec,
                       "--steps", str(a.sample_steps), "--solver", a.solver, "--shift", str(a.shift),
                       "--video-guidance", str(a.video_guidance), "--audio-guidance", str(a.audio_guidance),
                       "--slg-layer", str(a.sample_slg_layer), "--seed", "42"] + a.ovid_args.split()
                r = subprocess.run(cmd, text=True, capture_output=True)
                if r.returncode != 0:
                    sys.exit(f"run_original: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
                t = load_file(str(o))
                res[sample_tag] = (t["video_latent"], t["audio_latent"])
            results[("ovid", prec)] = res

    # Pairs: ovid vs original at each precision (the agreement), then the bf16 noise floor.
    pairs = []
    for prec in precisions:
        pairs.append((("ovid", prec), ("original", prec)))
    if "f32" in precisions and "bf16" in precisions:
        pairs += [(("ovid", "bf16"), ("original", "f32")), (("original", "bf16"), ("original", "f32")),
                  (("ovid", "bf16"), ("ovid", "f32")), (("ovid", "f32"), ("original", "bf16"))]
    rows = []
    print(f"\ncompare: {gguf_path.name} on {a.device}, original {commit_of(a.ovi_src)[:12]}, "
          f"rel = ‖a−b‖/‖b‖ (b = second)")
    print(f"{'a':<14} {'b':<16} {'case':<28} {'video':>10} {'audio':>10}")
    for pa, pb in pairs:
        if pa not in results or pb not in results:
            continue
        for tag in results[pb]:
            ev = rel(results[pa][tag][0], results[pb][tag][0])
            ea = rel(results[pa][tag][1], results[pb][tag][1])
            rows.append({"a": "-".join(pa), "b": "-".join(pb), "case": tag, "video": ev, "audio": ea,
                         "device": a.device, "model": gguf_path.name})
            print(f"{'-'.join(pa):<14} {'-'.join(pb):<16} {tag:<28} {ev:>10.3e} {ea:>10.3e}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"original_commit": commit_of(a.ovi_src), "rows": rows}, f, indent=1)
    if a.tol is not None:
        bad = [r for r in rows if r["a"] == "ovid-f32" and r["b"] == "original-f32"
               and max(r["video"], r["audio"]) > a.tol]
        if bad:
            sys.exit(f"run_original: ovid f32 vs original f32 above {a.tol}: {bad}")


# ------------------------------------------------------------------------------------------------
# time
# ------------------------------------------------------------------------------------------------

SIZES = {"704x704_5s": ((31, 44, 44), 157), "960x960_10s": ((61, 60, 60), 314)}


def cmd_time(a):
    global SDPA_BACKEND
    SDPA_BACKEND = a.sdpa_backend
    assert torch.cuda.is_available(), "time mode needs CUDA"
    ofusion, omodel = import_original(a.ovi_src)
    src = Path(a.ovi_src)
    vcfg = json.loads((src / "ovi/configs/model/dit/video.json").read_text())
    acfg = json.loads((src / "ovi/configs/model/dit/audio.json").read_text())
    if a.layers:  # a quick smoke test only; the reported figure uses the real 30
        vcfg["num_layers"] = acfg["num_layers"] = a.layers
    dev = torch.device("cuda")
    t0 = time.perf_counter()
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # random weights made directly in bf16 on the GPU
    try:
        with dev:
            model = ofusion.FusionModel(vcfg, acfg)
    finally:
        torch.set_default_dtype(prev)
    model = model.to(dtype=torch.bfloat16).eval()
    model.set_rope_params()
    torch.cuda.synchronize()
    params = sum(p.numel() for p in model.parameters())
    weights_gib = torch.cuda.memory_allocated() / 2**30
    print(f"original FusionModel: {params / 1e9:.3f} B parameters, {weights_gib:.2f} GiB bf16, "
          f"built in {time.perf_counter() - t0:.1f} s; {torch.cuda.get_device_name()}; "
          f"torch {torch.__version__}; {DIFFUSERS_NOTE}; original {commit_of(src)[:12]}")
    g = torch.Generator(device=dev).manual_seed(0)
    text_dim = model.video_model.text_dim
    rows = []
    for size in a.sizes.split(","):
        (f, h, w), L = SIZES[size]
        video = torch.randn(48, f, h, w, device=dev, dtype=torch.bfloat16, generator=g)
        audio = torch.randn(L, 20, device=dev, dtype=torch.bfloat16, generator=g)
        # Unpadded UMT5 rows (the model pads each to text_len=512 before text_embedding).
        ctx = [torch.randn(a.text_rows, text_dim, device=dev, dtype=torch.bfloat16, generator=g)
               for _ in range(3)]
        pos_v = pos_a = ctx[0]
        neg_v, neg_a = ctx[1], ctx[2]
        vid_seq_len = f * h * w // (model.video_model.patch_size[1] * model.video_model.patch_size[2])
        tin = torch.full((1,), 999.0, device=dev)
        BACKENDS_SEEN.clear()

        def step():
            # OviFusionEngine.generate's loop body, less the scheduler update (elementwise).
            pv, pa = model(vid=[video], audio=[audio], t=tin, vid_context=[pos_v], audio_context=[pos_a],
                           vid_seq_len=vid_seq_len, audio_seq_len=L, first_frame_is_clean=False)
            nv, na = model(vid=[video], audio=[audio], t=tin, vid_context=[neg_v], audio_context=[neg_a],
                           vid_seq_len=vid_seq_len, audio_seq_len=L, first_frame_is_clean=False,
                           slg_layer=a.slg_layer)
            gv = nv[0] + a.video_guidance * (pv[0] - nv[0])
            ga = na[0] + a.audio_guidance * (pa[0] - na[0])
            return gv, ga

        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            torch.cuda.reset_peak_memory_stats()
            for _ in range(a.warmup):
                step()
            torch.cuda.synchronize()
            times = []
            for _ in range(a.iters):
                t1 = time.perf_counter()
                step()
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t1)
        peak = torch.cuda.max_memory_allocated() / 2**30
        mean = sum(times) / len(times)
        row = {"size": size, "video_tokens": vid_seq_len, "audio_tokens": L, "s_per_step": mean,
               "s_per_step_all": times, "peak_gib": peak, "weights_gib": weights_gib,
               "attention": sorted(BACKENDS_SEEN), "slg_layer": a.slg_layer,
               "layers": vcfg["num_layers"], "device": torch.cuda.get_device_name()}
        rows.append(row)
        print(f"{size}: {mean:.3f} s/step (2 passes, SLG {a.slg_layer}; runs {', '.join(f'{x:.3f}' for x in times)}), "
              f"peak {peak:.2f} GiB, video {vid_seq_len} + audio {L} tokens, "
              f"attention SDPA {','.join(sorted(BACKENDS_SEEN))}")
        del video, audio, ctx
        torch.cuda.empty_cache()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"original_commit": commit_of(src), "params": params, "rows": rows}, f, indent=1)


# ------------------------------------------------------------------------------------------------


def sample_opts(p, default_steps):
    p.add_argument("--sample-steps", type=int, default=default_steps,
                   help="also compare a guided sample of N steps (0: no)")
    p.add_argument("--solver", default="unipc", choices=["unipc", "dpm++", "euler"])
    p.add_argument("--shift", type=float, default=5.0)
    p.add_argument("--video-guidance", type=float, default=4.0)
    p.add_argument("--audio-guidance", type=float, default=3.0)
    p.add_argument("--sample-slg-layer", type=int, default=1, help="SLG layer of the negative pass")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ovi-src", default=str(ROOT / ".ovi-original"),
                   help="the exported original tree (default: .ovi-original at the repo root)")
    sub = p.add_subparsers(dest="mode", required=True)
    backends = ["auto", "flash", "efficient", "cudnn", "math"]

    c = sub.add_parser("compare", help="original vs ovid-forward on one GGUF")
    c.add_argument("--gguf", required=True)
    c.add_argument("--inputs", help="ovid-forward inputs safetensors (default: random tiny inputs)")
    c.add_argument("--ovid-forward", help="path to ovid-forward (omit: original only)")
    c.add_argument("--ovid-args", default="", help="extra ovid-forward flags, space-separated")
    c.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    c.add_argument("--precisions", default="f32,bf16", help="comma list of f32, bf16")
    c.add_argument("--cases", default="700:0:-1,999:1:-1,250:0:1,37.5:1:2",
                   help="timestep:first_frame_clean:slg_layer, comma-separated (slg -1 = none)")
    c.add_argument("--out-dir", default="build-orig/compare")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--json")
    c.add_argument("--tol", type=float, help="fail if ovid-f32 vs original-f32 exceeds this")
    c.add_argument("--sdpa-backend", default="auto", choices=backends)
    sample_opts(c, default_steps=3)

    o = sub.add_parser("original-forward", help="(internal) the original at one precision")
    o.add_argument("--gguf", required=True)
    o.add_argument("--inputs", required=True)
    o.add_argument("--out", required=True)
    o.add_argument("--precision", required=True, choices=["f32", "bf16"])
    o.add_argument("--device", default="cpu")
    o.add_argument("--cases", required=True)
    o.add_argument("--sdpa-backend", default="auto", choices=backends)
    sample_opts(o, default_steps=0)

    t = sub.add_parser("time", help="full-size original, random bf16 weights, s/step on CUDA")
    t.add_argument("--sizes", default="704x704_5s,960x960_10s")
    t.add_argument("--warmup", type=int, default=1)
    t.add_argument("--iters", type=int, default=3)
    t.add_argument("--text-rows", type=int, default=120, help="unpadded context rows (padded to 512)")
    t.add_argument("--slg-layer", type=int, default=11, help="inference_fusion.yaml: 11")
    t.add_argument("--video-guidance", type=float, default=4.0)
    t.add_argument("--audio-guidance", type=float, default=3.0)
    t.add_argument("--layers", type=int, help="override num_layers (smoke test only)")
    t.add_argument("--json")
    t.add_argument("--sdpa-backend", default="auto", choices=backends)

    a = p.parse_args()
    {"compare": cmd_compare, "original-forward": cmd_original_forward, "time": cmd_time}[a.mode](a)


if __name__ == "__main__":
    main()
