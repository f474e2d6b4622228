"""The sampler reference (flow_samplers.py): its diffusers-configured schedules against the spec's
formulas (ovi.md §4), and the behaviour of its sampling loop."""
import numpy as np
import pytest
import torch

import flow_samplers as fs
from ref_helpers import rel

# diffusers 0.42 DPMSolver calls np.array(copy=False) on a tensor: a numpy-2 DeprecationWarning
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
STEPS = (1, 2, 3, 4, 10, 30, 50)
SHIFTS = (1.0, 3.0, 5.0)


@pytest.mark.parametrize("solver", fs.SOLVERS)
@pytest.mark.parametrize("shift", SHIFTS)
def test_schedule_matches_spec_formulas(solver, shift):
    for steps in STEPS:
        timesteps, sigmas = fs.timesteps_and_sigmas(solver, steps, shift)
        assert timesteps.shape == (steps,) and sigmas.shape == (steps + 1,)
        assert sigmas[-1] == 0.0
        assert np.all(np.diff(sigmas) < 0), f"{solver} N={steps}: sigmas not decreasing {sigmas}"
        np.testing.assert_allclose(sigmas, fs.spec_sigmas(solver, steps, shift), rtol=1e-6, atol=1e-7)
        expected = fs.spec_timesteps(solver, steps, shift)
        if solver == "euler":
            assert timesteps.dtype == np.float32
            np.testing.assert_allclose(timesteps, expected, rtol=1e-6)
            np.testing.assert_allclose(timesteps, sigmas[:-1] * 1000, rtol=1e-6)
        else:
            assert timesteps.dtype == np.int64
            np.testing.assert_array_equal(timesteps, expected)  # truncation, not rounding


def test_schedule_spot_values():
    # unipc: σ = shift(linspace(0.999, 0, N+1)[:-1]); the first timestep is int64(999.8) = 999
    t, s = fs.timesteps_and_sigmas("unipc", 3, 5.0)
    sig = 5 * np.array([0.999, 0.666, 0.333]) / (1 + 4 * np.array([0.999, 0.666, 0.333]))
    np.testing.assert_allclose(s[:3], sig, rtol=1e-6)
    assert t.tolist() == [999, 908, 713]
    # dpm++: σ = shift(linspace(1, 0, N+1)[:N]); starts at σ = 1, timestep 1000
    t, s = fs.timesteps_and_sigmas("dpm++", 3, 5.0)
    assert s[0] == 1.0 and t.tolist() == [1000, 909, 714]
    # euler: FlowMatchEulerDiscreteScheduler(shift=5) as Ovi builds it (double shift inside)
    t, s = fs.timesteps_and_sigmas("euler", 3, 5.0)
    np.testing.assert_allclose(t, [1000.0, 834.7121, 24.414066], rtol=1e-6)
    # shift 1 leaves the linear schedule
    t, s = fs.timesteps_and_sigmas("unipc", 4, 1.0)
    np.testing.assert_allclose(s, [0.999, 0.74925, 0.4995, 0.24975, 0.0], rtol=1e-6)


@pytest.mark.parametrize("solver", fs.SOLVERS)
@pytest.mark.parametrize("steps", [1, 3, 7])
def test_straight_flow_is_solved_exactly(solver, steps):
    """For x_t = (1−σ)x0 + σn the velocity n − x0 is constant; every solver must land on x0
    when started on the line at its first sigma (unipc starts at σ0 < 1)."""
    g = torch.Generator().manual_seed(steps)
    x0_v, n_v = torch.randn(48, 2, 4, 4, generator=g), torch.randn(48, 2, 4, 4, generator=g)
    x0_a, n_a = torch.randn(9, 20, generator=g), torch.randn(9, 20, generator=g)
    calls = []

    def model_fn(video, audio, t):
        calls.append(t)
        return n_v - x0_v, n_a - x0_a

    s0 = float(fs.timesteps_and_sigmas(solver, steps, 5.0)[1][0])
    video, audio = fs.run(solver, steps, 5.0, model_fn, (1 - s0) * x0_v + s0 * n_v, (1 - s0) * x0_a + s0 * n_a)
    assert len(calls) == steps
    assert calls == [float(t) for t in fs.timesteps_and_sigmas(solver, steps, 5.0)[0]]
    assert rel(video, x0_v) < 1e-5 and rel(audio, x0_a) < 1e-5


@pytest.mark.parametrize("solver", fs.SOLVERS)
def test_video_and_audio_schedulers_are_independent(solver):
    """Each latent has its own multistep history: the audio result must not depend on video."""
    g = torch.Generator().manual_seed(7)
    W = torch.randn(20, 20, generator=g) / 5
    audio0 = torch.randn(11, 20, generator=g)

    def model_fn(video, audio, t):
        return torch.sin(video) * (t / 1000.0), torch.tanh(audio @ W) + (t / 1000.0) * audio

    v1, a1 = fs.run(solver, 5, 5.0, model_fn, torch.randn(48, 1, 2, 2, generator=g), audio0)
    v2, a2 = fs.run(solver, 5, 5.0, model_fn, 3 * torch.randn(48, 1, 2, 2, generator=g), audio0)
    assert torch.equal(a1, a2)
    assert rel(v1, v2) > 0.1


def test_second_order_solvers_differ_from_euler():
    """On a curved field UniPC and DPM++ (2nd order, multistep) differ from Euler and from each
    other; with one step all three are a single Euler/x0 step from the same sigma ratio."""
    g = torch.Generator().manual_seed(3)
    W = torch.randn(20, 20, generator=g) / 4
    x = torch.randn(6, 20, generator=g)

    def model_fn(video, audio, t):
        return torch.tanh(video @ W), torch.tanh(audio @ W) * (t / 1000.0)

    outs = {s: fs.run(s, 6, 5.0, model_fn, x, x) for s in fs.SOLVERS}
    assert rel(outs["unipc"][0], outs["euler"][0]) > 1e-3
    assert rel(outs["dpm++"][0], outs["euler"][0]) > 1e-3
    assert rel(outs["unipc"][0], outs["dpm++"][0]) > 1e-4
    # one step from σ0 to 0 returns x − σ0·v for every solver
    for s in fs.SOLVERS:
        _, sig = fs.timesteps_and_sigmas(s, 1, 5.0)
        v1, _ = fs.run(s, 1, 5.0, model_fn, x, x)
        assert rel(v1, x - float(sig[0]) * torch.tanh(x @ W)) < 1e-6


def test_guided_model_fn_combines_passes_as_ovi():
    seen = []

    def forward(video, audio, vctx, actx, t, ffc, slg):
        seen.append((vctx.item(), actx.item(), slg, ffc))
        return video * vctx + slg, audio * actx + slg

    fn = fs.guided_model_fn(forward, torch.tensor(2.0), torch.tensor(3.0), torch.tensor(5.0), torch.tensor(7.0),
                            video_guidance=4.0, audio_guidance=3.0, slg_layer=11)
    v, a = fn(torch.ones(2), torch.ones(3), 500.0)
    assert seen == [(2.0, 3.0, -1, False), (5.0, 7.0, 11, False)]
    # neg + g·(pos − neg): video 16 + 4·(1 − 16), audio 18 + 3·(2 − 18)
    assert torch.equal(v, torch.full((2,), 16.0 + 4.0 * (1.0 - 16.0)))
    assert torch.equal(a, torch.full((3,), 18.0 + 3.0 * (2.0 - 18.0)))
