"""A tiny random Wan2.2-style VAE from diffusers' AutoencoderKLWan, and the helpers the reference
tests share: the latent statistics (spec encoders.md §3.3), an independent renaming to the
original Wan2.2_VAE.pth key layout (spec §3.2), and safetensors I/O."""
import os
import subprocess
from pathlib import Path

import torch
from diffusers import AutoencoderKLWan
from safetensors.torch import save_file

BIN = Path(os.environ.get("OVID_BIN", "build/bin")) / "ovid-vae-cli"

# Wan2_2_VAE.__init__'s tables (spec §3.3).
MEAN = [-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542,
        0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109,
        0.2665, -0.2108, -0.2158, 0.2502, -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899,
        -0.2799, -0.1230, -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
        0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667]
STD = [0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344,
       0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804,
       0.5833, 1.4146, 0.8986, 0.5659, 0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999,
       0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
       0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744]

# Wan2.2's structure (z 48, dim_mult [1,2,4,4], 2 residual blocks, temporal [F,T,T], residual
# up/down blocks, patch 2 -> 12 channels) at widths 8 (encoder) and 12 (decoder) instead of 160
# and 256: the decoder runs at 48/48/48/24/12 channels.
TINY = dict(base_dim=8, decoder_base_dim=12, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
            temperal_downsample=[False, True, True], is_residual=True, in_channels=12,
            out_channels=12, patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4,
            latents_mean=MEAN, latents_std=STD)


def make_tiny(seed=0):
    """The tiny model with fixed random weights; RMS_norm gammas are perturbed away from their
    all-ones initialisation so that a mixed-up gamma shows in the output."""
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(**TINY).eval()
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
    return vae


def save_diffusers(vae, path):
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(path))


def original_name(key):
    """diffusers AutoencoderKLWan name -> Wan2.2_VAE.pth name, written from spec §3.2
    independently of ovid's key tables."""
    res = {"norm1.gamma": "residual.0.gamma", "conv1.weight": "residual.2.weight",
           "conv1.bias": "residual.2.bias", "norm2.gamma": "residual.3.gamma",
           "conv2.weight": "residual.6.weight", "conv2.bias": "residual.6.bias",
           "conv_shortcut.weight": "shortcut.weight", "conv_shortcut.bias": "shortcut.bias"}
    top = {"quant_conv": "conv1", "post_quant_conv": "conv2"}
    parts = key.split(".")
    if parts[0] in top:
        return ".".join([top[parts[0]]] + parts[1:])
    side = parts[0]  # encoder / decoder
    rest = parts[1:]
    if rest[0] == "conv_in":
        return ".".join([side, "conv1"] + rest[1:])
    if rest[0] == "norm_out":
        return ".".join([side, "head.0"] + rest[1:])
    if rest[0] == "conv_out":
        return ".".join([side, "head.2"] + rest[1:])
    if rest[0] == "mid_block":
        kind, idx, tail = rest[1], int(rest[2]), ".".join(rest[3:])
        if kind == "attentions":
            return f"{side}.middle.1.{tail}"
        return f"{side}.middle.{2 * idx}.{res[tail]}"
    if rest[0] in ("up_blocks", "down_blocks"):
        stage = rest[1]
        seq = "upsamples" if side == "decoder" else "downsamples"
        blocks = TINY["num_res_blocks"] + (1 if side == "decoder" else 0)
        if rest[2] == "resnets":
            return f"{side}.{seq}.{stage}.{seq}.{rest[3]}.{res['.'.join(rest[4:])]}"
        # upsampler / downsampler: resample.1.* or time_conv.*
        return f"{side}.{seq}.{stage}.{seq}.{blocks}.{'.'.join(rest[3:])}"
    raise ValueError(f"unmapped key {key}")


def save_original(vae, path):
    save_file({original_name(k): v.contiguous() for k, v in vae.state_dict().items()}, str(path))


def denormalise(z):
    """z [48, F, h, w] as the denoiser makes it -> what AutoencoderKLWan.decode takes, in the
    original's order: z / (1/std) + mean."""
    mean = torch.tensor(MEAN).view(48, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(STD).view(48, 1, 1, 1)
    return z / inv_std + mean


def normalise(mu):
    mean = torch.tensor(MEAN).view(48, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(STD).view(48, 1, 1, 1)
    return (mu - mean) * inv_std


def cli(*args, check=True):
    proc = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"ovid-vae-cli {args} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def rel_err(a, b):
    return float((a - b).norm() / b.norm())
