"""engine/sampling against diffusers' schedulers configured as Ovi configures its own (spec
ovi.md §4), through ovid-sampler-cli. Self-contained: the diffusers side is set up here.

- Schedules: the C++ sigmas/timesteps equal, bit for bit, Ovi's formulas evaluated in numpy
  (UniPC: linspace(f32(0.999), 0, N+1)[:-1]; DPM++: linspace(1, 0, N+1)[:N]; both shifted,
  timesteps truncated) and diffusers' FlowMatchEulerDiscreteScheduler(shift).set_timesteps(N).
- Trajectories: every solver steps the analytic field v(x, t) = A·x + B·(t/1000)·sin(x) from the
  same float32 start; ‖cpp - ref‖/‖ref‖ < 1e-5 at every state, N in {1, 2, 3, 10, 50}, shift
  in {1, 5}. UniPC is diffusers' UniPCMultistepScheduler (flow sigmas, bh2, order 2, x0
  prediction, lower_order_final, corrector on) and DPM++ its DPMSolverMultistepScheduler
  (flow sigmas, dpmsolver++ 2M midpoint, lower_order_final), both given Ovi's sigmas.
- The loop (Sample()): two passes, per-tower guidance, SLG layer on the negative pass, I2V
  first-frame pinning, against the same loop written here as OviFusionEngine.generate does it.
- Noise: MakeNoise on the CPU equals torch.randn(..., generator=Generator().manual_seed(seed)).
Setting OVID_OVI_SRC to a checkout of github.com/character-ai/Ovi also checks the schedules and
trajectories against Ovi's FlowUniPCMultistepScheduler / FlowDPMSolverMultistepScheduler.
"""
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import (DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler,
                       UniPCMultistepScheduler)

BIN = Path(os.environ.get("OVID_BIN", "build/bin")) / "ovid-sampler-cli"
SOLVERS = ("unipc", "dpm++", "euler")
STEPS = (1, 2, 3, 10, 50)
SHIFTS = (1.0, 5.0)
A, B = -0.5, 2.0  # the analytic field's constants (sampler_cli.cc's Field)
TOL = 1e-5


def cli(*args, check=True):
    proc = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"ovid-sampler-cli {args} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def field(x, a, b, t):
    return a * x + (b * float(t) / 1000.0) * torch.sin(x)


def shifted(sigmas, shift):
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def ovi_sigmas(solver, steps, shift):
    """Ovi's float64 sigmas before the final 0 (UniPC and DPM++)."""
    if solver == "unipc":
        # FlowUniPCMultistepScheduler(shift=1).sigma_max is its float32 training-table 0.999.
        sigmas = np.linspace(float(np.float32(0.999)), 0.0, steps + 1)[:-1]
    else:
        sigmas = np.linspace(1, 0, steps + 1)[:steps]  # get_sampling_sigmas
    return shifted(sigmas, shift)


def diffusers_scheduler(solver, steps, shift):
    """A diffusers scheduler stepping as Ovi's does, ready at step 0."""
    if solver == "euler":
        sched = FlowMatchEulerDiscreteScheduler(shift=shift)
        sched.set_timesteps(steps)
    elif solver == "unipc":
        sched = UniPCMultistepScheduler(
            num_train_timesteps=1000, solver_order=2, prediction_type="flow_prediction",
            use_flow_sigmas=True, flow_shift=1.0, predict_x0=True, solver_type="bh2",
            lower_order_final=True, final_sigmas_type="zero")
        # flow_shift=1 keeps Ovi's already shifted sigmas as they are.
        sched.set_timesteps(sigmas=ovi_sigmas("unipc", steps, shift))
    else:
        sched = DPMSolverMultistepScheduler(
            num_train_timesteps=1000, solver_order=2, prediction_type="flow_prediction",
            use_flow_sigmas=True, flow_shift=1.0, algorithm_type="dpmsolver++",
            solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero")
        sched.set_timesteps(steps)
        # Its set_timesteps takes no sigmas: install Ovi's (which start at σ = 1).
        sigmas = ovi_sigmas("dpm++", steps, shift)
        sched.sigmas = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
        sched.timesteps = torch.from_numpy(sigmas * 1000).to(torch.int64)
        sched.num_inference_steps = steps
    sched.set_begin_index(0)
    return sched


def ovi_module(name):
    src = os.environ.get("OVID_OVI_SRC")
    path = Path(src or "/nonexistent") / "ovi" / "utils" / f"{name}.py"
    if not path.exists():
        pytest.skip("OVID_OVI_SRC does not point to an Ovi checkout")
    spec = importlib.util.spec_from_file_location(f"ovi_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ovi_scheduler(solver, steps, shift):
    """Ovi's own scheduler, built as OviFusionEngine.get_scheduler_time_steps does."""
    if solver == "unipc":
        mod = ovi_module("fm_solvers_unipc")
        sched = mod.FlowUniPCMultistepScheduler(num_train_timesteps=1000, shift=1,
                                                use_dynamic_shifting=False)
        sched.set_timesteps(steps, device="cpu", shift=shift)
    elif solver == "dpm++":
        mod = ovi_module("fm_solvers")
        sched = mod.FlowDPMSolverMultistepScheduler(num_train_timesteps=1000, shift=1,
                                                    use_dynamic_shifting=False)
        mod.retrieve_timesteps(sched, device="cpu",
                               sigmas=mod.get_sampling_sigmas(steps, shift))
    else:
        sched = FlowMatchEulerDiscreteScheduler(shift=shift)
        sched.set_timesteps(steps, device="cpu")
    return sched


def reference_trajectory(sched, x):
    out = [x]
    for t in sched.timesteps:
        x = sched.step(field(x, A, B, t), t, x, return_dict=False)[0]
        out.append(x)
    return torch.stack(out)


def cpp_schedule(solver, steps, shift):
    proc = cli("schedule", f"--solver={solver}", f"--steps={steps}", f"--shift={shift}")
    got = json.loads(proc.stdout)
    return (np.array(got["sigmas"], dtype=np.float32),
            np.array(got["timesteps"], dtype=np.float32))


def cpp_trajectory(tmp_path, solver, steps, shift, x, dtype="f32"):
    init, out = tmp_path / "init.bin", tmp_path / "traj.bin"
    x.numpy().astype(np.float32).tofile(init)
    cli("solve", f"--solver={solver}", f"--steps={steps}", f"--shift={shift}", f"--a={A}",
        f"--b={B}", f"--in={init}", f"--out={out}", f"--dtype={dtype}")
    traj = np.fromfile(out, dtype=np.float32)
    return torch.from_numpy(traj.reshape((steps + 1,) + tuple(x.shape)))


def rel_errors(got, ref):
    return [float((g - r).norm() / r.norm()) for g, r in zip(got, ref)]


@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_schedule_matches(solver, steps, shift):
    sigmas, timesteps = cpp_schedule(solver, steps, shift)
    sched = diffusers_scheduler(solver, steps, shift)
    np.testing.assert_array_equal(sigmas, sched.sigmas.numpy())
    np.testing.assert_array_equal(timesteps, sched.timesteps.numpy().astype(np.float32))
    if solver != "euler":
        # The spec's formula, independently of diffusers.
        ref = ovi_sigmas(solver, steps, shift)
        np.testing.assert_array_equal(sigmas[:-1], ref.astype(np.float32))
        np.testing.assert_array_equal(timesteps, (ref * 1000).astype(np.int64))


def test_unipc_50_steps_shift_5_starts_at_999():
    _, timesteps = cpp_schedule("unipc", 50, 5.0)
    assert timesteps[0] == 999


@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_trajectory_matches_diffusers(tmp_path, solver, steps, shift):
    x = torch.randn((1, 4, 6, 6), generator=torch.Generator().manual_seed(steps))
    ref = reference_trajectory(diffusers_scheduler(solver, steps, shift), x)
    got = cpp_trajectory(tmp_path, solver, steps, shift, x)
    errors = rel_errors(got, ref)
    assert max(errors) < TOL, f"relative errors per state: {errors}"


@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize("steps", (1, 2, 3, 10, 50))
@pytest.mark.parametrize("solver", SOLVERS)
def test_matches_ovis_own_schedulers(tmp_path, solver, steps, shift):
    sched = ovi_scheduler(solver, steps, shift)
    sigmas, timesteps = cpp_schedule(solver, steps, shift)
    np.testing.assert_array_equal(sigmas, sched.sigmas.numpy())
    np.testing.assert_array_equal(timesteps, sched.timesteps.numpy().astype(np.float32))
    x = torch.randn((1, 4, 6, 6), generator=torch.Generator().manual_seed(100 + steps))
    ref = reference_trajectory(sched, x)
    errors = rel_errors(cpp_trajectory(tmp_path, solver, steps, shift, x), ref)
    assert max(errors) < TOL, f"relative errors per state: {errors}"


def test_bf16_samples_stay_close(tmp_path):
    """bf16 state (the model dtype): within bf16 resolution of the float32 reference."""
    x = torch.randn((1, 4, 6, 6), generator=torch.Generator().manual_seed(7))
    for solver in SOLVERS:
        ref = reference_trajectory(diffusers_scheduler(solver, 10, 5.0), x)
        got = cpp_trajectory(tmp_path, solver, 10, 5.0, x, dtype="bf16")
        assert max(rel_errors(got, ref)) < 2e-2, solver


# sampler_cli.cc's LoopModel: (a, b) per pass and tower; SLG adds 0.01·layer to the negative a.
LOOP_FIELDS = {("pos", "video"): (-0.5, 1.0), ("pos", "audio"): (-0.3, 0.7),
               ("neg", "video"): (-0.8, 0.4), ("neg", "audio"): (-0.6, 1.1)}


def reference_loop(solver, steps, shift, gv, ga, video, audio, first_frame, slg):
    """OviFusionEngine.generate's loop over the analytic model, with diffusers schedulers."""
    sched_v = diffusers_scheduler(solver, steps, shift)
    sched_a = diffusers_scheduler(solver, steps, shift)
    video, audio = video.clone(), audio.clone()
    slg_a = 0.01 * slg if slg >= 0 else 0.0
    for t in sched_v.timesteps:
        if first_frame is not None:
            video[:, :1] = first_frame
        pv = field(video, *LOOP_FIELDS[("pos", "video")], t)
        pa = field(audio, *LOOP_FIELDS[("pos", "audio")], t)
        a, b = LOOP_FIELDS[("neg", "video")]
        nv = field(video, a + slg_a, b, t)
        a, b = LOOP_FIELDS[("neg", "audio")]
        na = field(audio, a + slg_a, b, t)
        gvid = nv + gv * (pv - nv)
        gaud = na + ga * (pa - na)
        video = sched_v.step(gvid.unsqueeze(0), t, video.unsqueeze(0), return_dict=False)[0]
        video = video.squeeze(0)
        audio = sched_a.step(gaud.unsqueeze(0), t, audio.unsqueeze(0), return_dict=False)[0]
        audio = audio.squeeze(0)
    if first_frame is not None:
        video[:, :1] = first_frame
    return video, audio


@pytest.mark.parametrize("i2v", (False, True))
@pytest.mark.parametrize("solver", SOLVERS)
def test_loop_matches_ovis_loop(tmp_path, solver, i2v):
    gen = torch.Generator().manual_seed(11)
    video = torch.randn((3, 4, 2, 5), generator=gen)
    audio = torch.randn((7, 3), generator=gen)
    frame = torch.randn((3, 1, 2, 5), generator=gen) if i2v else None
    steps, shift, gv, ga, slg = 12, 5.0, 4.0, 3.0, 11
    paths = {k: tmp_path / f"{k}.bin" for k in ("video", "audio", "frame", "ov", "oa")}
    video.numpy().tofile(paths["video"])
    audio.numpy().tofile(paths["audio"])
    args = ["loop", f"--solver={solver}", f"--steps={steps}", f"--shift={shift}", f"--gv={gv}",
            f"--ga={ga}", f"--slg={slg}", f"--video={paths['video']}", "--video-shape=3,4,2,5",
            f"--audio={paths['audio']}", "--audio-shape=7,3", f"--out-video={paths['ov']}",
            f"--out-audio={paths['oa']}"]
    if i2v:
        frame.numpy().tofile(paths["frame"])
        args.append(f"--first-frame={paths['frame']}")
    cli(*args)
    got_v = torch.from_numpy(np.fromfile(paths["ov"], dtype=np.float32).reshape(3, 4, 2, 5))
    got_a = torch.from_numpy(np.fromfile(paths["oa"], dtype=np.float32).reshape(7, 3))
    ref_v, ref_a = reference_loop(solver, steps, shift, gv, ga, video, audio, frame, slg)
    assert float((got_v - ref_v).norm() / ref_v.norm()) < TOL
    assert float((got_a - ref_a).norm() / ref_a.norm()) < TOL
    if i2v:
        assert torch.equal(got_v[:, :1], frame)


def test_loop_cancellation(tmp_path):
    video, audio = tmp_path / "v.bin", tmp_path / "a.bin"
    np.zeros(8, dtype=np.float32).tofile(video)
    np.zeros(4, dtype=np.float32).tofile(audio)
    proc = cli("loop", "--solver=unipc", "--steps=10", "--shift=5", "--gv=4", "--ga=3",
               f"--video={video}", "--video-shape=2,1,2,2", f"--audio={audio}",
               "--audio-shape=2,2", f"--out-video={tmp_path / 'ov'}",
               f"--out-audio={tmp_path / 'oa'}", "--cancel-after=3", check=False)
    assert proc.returncode == 3, proc.stderr
    assert "CANCELLED" in proc.stderr and "step 4 of 10" in proc.stderr


@pytest.mark.parametrize("device", ("cpu", "cuda"))
@pytest.mark.parametrize("dtype", ("bf16", "f32"))
def test_noise_matches_torch(tmp_path, dtype, device):
    """Ovi's torch.randn(shape, dtype, device, generator=Generator(device).manual_seed(seed))."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    shape, seed = (48, 3, 4, 6), 1234
    out = tmp_path / "noise.bin"
    cli("noise", f"--seed={seed}", "--shape=" + ",".join(map(str, shape)), f"--dtype={dtype}",
        f"--device={device}", f"--out={out}")
    got = torch.from_numpy(np.fromfile(out, dtype=np.float32).reshape(shape))
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    gen = torch.Generator(device=device).manual_seed(seed)
    ref = torch.randn(shape, dtype=torch_dtype, device=device, generator=gen)
    assert torch.equal(got, ref.float().cpu())


@pytest.mark.parametrize("shift", (16.44, 0.37, 7.77))
def test_euler_schedule_matches_at_shifts_whose_f32_minus_1_rounds_differently(shift):
    # diffusers computes `shift - 1` in Python (double) before it meets the float32 tensor;
    # f32(shift) - 1 gave sigma_max 1.0 instead of 1.0000001 at 16.44 and moved 13 of 50
    # timesteps by an ulp.
    sigmas, timesteps = cpp_schedule("euler", 50, shift)
    sched = diffusers_scheduler("euler", 50, shift)
    np.testing.assert_array_equal(sigmas, sched.sigmas.numpy())
    np.testing.assert_array_equal(timesteps, sched.timesteps.numpy().astype(np.float32))
