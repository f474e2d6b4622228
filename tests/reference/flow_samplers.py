"""Reference flow-matching samplers for Ovi (shared spec ovi.md §4), built on the pinned diffusers.

Each solver is a stock diffusers scheduler configured to reproduce what Ovi's own schedulers do
(`ovi/utils/fm_solvers_unipc.py:FlowUniPCMultistepScheduler`, `ovi/utils/fm_solvers.py:
FlowDPMSolverMultistepScheduler`, and diffusers' FlowMatchEulerDiscreteScheduler, which Ovi uses
directly). The schedules are also written out from the spec's formulas (`spec_sigmas`,
`spec_timesteps`) so tests can check the diffusers configuration against them.

Convention: x_t = (1-σ)·x0 + σ·noise, the model predicts the velocity v = noise - x0, and a
separate scheduler instance steps the video and the audio latents with the same timesteps.

    run(solver, steps, shift, model_fn, x_video, x_audio) -> (video, audio)
    model_fn(video, audio, t) -> (v_video, v_audio), t the scheduler's timestep as a float
"""
from __future__ import annotations

import numpy as np
import torch
from diffusers import (DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler,
                       UniPCMultistepScheduler)

SOLVERS = ("unipc", "euler", "dpm++")
NUM_TRAIN_TIMESTEPS = 1000
# Ovi's FlowUniPC takes sigma_max = 1 - 1/1000 from a float32 tensor: 0.9990000128746033, not 0.999.
# Using the same double keeps sigmas and the truncated timesteps bit-identical to Ovi's.
UNIPC_SIGMA_MAX = float(np.float32(0.999))


def shift_sigmas(sigma, shift):
    """σ' = s·σ / (1 + (s-1)·σ)."""
    return shift * sigma / (1.0 + (shift - 1.0) * sigma)


def spec_sigmas(solver, steps, shift):
    """The N+1 sigmas (last = 0) of spec §4, written from the formulas, float32."""
    if solver == "unipc":
        s = shift_sigmas(np.linspace(UNIPC_SIGMA_MAX, 0.0, steps + 1)[:-1], shift)
    elif solver == "dpm++":
        s = shift_sigmas(np.linspace(1.0, 0.0, steps + 1)[:steps], shift)
    elif solver == "euler":
        # FlowMatchEulerDiscreteScheduler(shift): the training sigmas t/1000 (t = 1..1000) are
        # shifted once at construction (σ_max = 1, σ_min = shift(1/1000)); set_timesteps(N) takes
        # N points evenly spaced between σ_max and σ_min and shifts them again.
        sigma_min = shift_sigmas(1.0 / NUM_TRAIN_TIMESTEPS, shift)
        s = shift_sigmas(np.linspace(1.0, sigma_min, steps), shift)
    else:
        raise ValueError(f"unknown solver {solver!r}; expected one of {SOLVERS}")
    return np.concatenate([s, [0.0]]).astype(np.float32)


def spec_timesteps(solver, steps, shift):
    """The N model timesteps of spec §4: int64(σ·1000) truncated for unipc and dpm++ (so the
    first unipc step is 999 and the first dpm++ step 1000), σ·1000 as float32 for euler."""
    s = spec_sigmas(solver, steps, shift)[:-1]
    if solver == "euler":
        return (s.astype(np.float32) * np.float32(NUM_TRAIN_TIMESTEPS)).astype(np.float32)
    # the float64 sigmas before the float32 cast decide the truncation, as in Ovi
    if solver == "unipc":
        s64 = shift_sigmas(np.linspace(UNIPC_SIGMA_MAX, 0.0, steps + 1)[:-1], shift)
    else:
        s64 = shift_sigmas(np.linspace(1.0, 0.0, steps + 1)[:steps], shift)
    return (s64 * NUM_TRAIN_TIMESTEPS).astype(np.int64)


def make_scheduler(solver, steps, shift):
    """A diffusers scheduler set to Ovi's schedule for `solver` (set_timesteps already called)."""
    if solver == "unipc":
        sched = UniPCMultistepScheduler(
            num_train_timesteps=NUM_TRAIN_TIMESTEPS, solver_order=2, prediction_type="flow_prediction",
            use_flow_sigmas=True, flow_shift=shift, predict_x0=True, solver_type="bh2",
            lower_order_final=True, disable_corrector=[], final_sigmas_type="zero")
        # Ovi's FlowUniPC starts from linspace(0.999, 0, N+1)[:-1] (its sigma_max is float32(1 - 1/1000));
        # diffusers' default would start from 1. Passing the unshifted sigmas applies flow_shift.
        sched.set_timesteps(sigmas=np.linspace(UNIPC_SIGMA_MAX, 0.0, steps + 1)[:-1])
    elif solver == "dpm++":
        sched = DPMSolverMultistepScheduler(
            num_train_timesteps=NUM_TRAIN_TIMESTEPS, solver_order=2, prediction_type="flow_prediction",
            use_flow_sigmas=True, flow_shift=shift, algorithm_type="dpmsolver++", solver_type="midpoint",
            lower_order_final=True, euler_at_final=False, final_sigmas_type="zero")
        sched.set_timesteps(steps)
        # Ovi's FlowDPMSolver gets sigmas = shift(linspace(1, 0, N+1)[:N]) (first σ = 1 exactly;
        # its first-order first step handles α = 0 through IEEE: exp(-inf) = 0). This diffusers
        # version takes no custom sigmas, so the schedule is set after set_timesteps reset the state.
        sig = shift_sigmas(np.linspace(1.0, 0.0, steps + 1)[:steps], shift)
        sched.sigmas = torch.from_numpy(np.concatenate([sig, [0.0]]).astype(np.float32))
        sched.timesteps = torch.from_numpy(sig * NUM_TRAIN_TIMESTEPS).to(torch.int64)
    elif solver == "euler":
        sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, shift=shift)
        sched.set_timesteps(steps)
    else:
        raise ValueError(f"unknown solver {solver!r}; expected one of {SOLVERS}")
    return sched


def timesteps_and_sigmas(solver, steps, shift):
    """(timesteps [N], sigmas [N+1]) as numpy arrays, from the configured diffusers scheduler."""
    sched = make_scheduler(solver, steps, shift)
    return sched.timesteps.cpu().numpy(), sched.sigmas.cpu().numpy().astype(np.float32)


@torch.no_grad()
def run(solver, steps, shift, model_fn, x_video, x_audio):
    """The Ovi sampling loop: both latents start from the given noise; at each timestep t the
    model gives (v_video, v_audio) and each latent takes its own scheduler step. float32."""
    sched_v = make_scheduler(solver, steps, shift)
    sched_a = make_scheduler(solver, steps, shift)
    video = x_video.to(torch.float32).clone()
    audio = x_audio.to(torch.float32).clone()
    for t in sched_v.timesteps:
        vel_v, vel_a = model_fn(video, audio, float(t))
        video = sched_v.step(vel_v.to(torch.float32)[None], t, video[None], return_dict=False)[0][0]
        audio = sched_a.step(vel_a.to(torch.float32)[None], t, audio[None], return_dict=False)[0][0]
    return video, audio


def guided_model_fn(forward, video_context, audio_context, video_negative_context,
                    audio_negative_context, video_guidance, audio_guidance, slg_layer=-1,
                    first_frame_clean=False):
    """Ovi's per-step CFG (spec §4): a positive pass with the prompt contexts, a negative pass
    with the negative contexts and skip-layer guidance, then neg + g·(pos − neg) per modality.
    `forward` has OviReference.forward's signature."""

    def model_fn(video, audio, t):
        pv, pa = forward(video, audio, video_context, audio_context, t, first_frame_clean, -1)
        nv, na = forward(video, audio, video_negative_context, audio_negative_context, t,
                         first_frame_clean, slg_layer)
        return nv + video_guidance * (pv - nv), na + audio_guidance * (pa - na)

    return model_fn
