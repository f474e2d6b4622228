"""Admission and stopping work: a bounded queue under concurrent clients, invalid requests,
the VRAM budget, cancellation and deadlines."""
import hashlib
import re
import threading
import time

import grpc
import numpy as np
import pytest

import ovid_client
from conftest import make_request
from ovid_client import pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def test_eight_clients_against_a_queue_of_two(start_daemon):
    daemon = start_daemon("--max-queue=2", "--workers=1", "--fault-step-delay-ms=100")
    with ovid_client.OvidClient(daemon.address) as client:
        requests = [make_request(client, seed=100 + i, steps=3) for i in range(8)]
        results = [None] * 8
        go = threading.Barrier(8)

        def submit(i):
            go.wait()
            try:
                results[i] = client.generate(requests[i])
            except ovid_client.OvidError as e:
                results[i] = e

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        done = [r for r in results if isinstance(r, ovid_client.GenerateResult)]
        refused = [r for r in results if isinstance(r, ovid_client.OvidError)]
        assert len(done) + len(refused) == 8
        assert done and refused
        assert all(e.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "queue full" in e.message
                   for e in refused)
        assert len({r.job_id for r in done}) == len(done)
        # Every admitted job ran once and succeeded; none was lost or answered twice.
        jobs = client.list_jobs()
        assert sorted(j.job_id for j in jobs) == sorted(r.job_id for r in done)
        assert all(j.state == pb.JOB_STATE_SUCCEEDED for j in jobs)
        seeds = sorted(r.seed for r in done)
        assert len(set(seeds)) == len(seeds)


def _bad_requests(text_dim, text_len):
    """(what, field named in the message, request kwargs) for requests that must be refused
    with INVALID_ARGUMENT."""
    rng = np.random.default_rng(0)
    good = lambda n=4: rng.standard_normal((n, text_dim)).astype(np.float32)  # noqa: E731
    return [
        ("width too small", "width", dict(width=64)),
        ("width too large", "width", dict(width=4096)),
        ("height too small", "height", dict(height=0)),
        ("height too large", "height", dict(height=1921)),
        ("duration of another variant", "duration_seconds", dict(duration_seconds=7.0)),
        ("zero steps", "steps", dict(steps=0)),
        ("too many steps", "steps", dict(steps=201)),
        ("zero shift", "shift", dict(shift=0.0)),
        ("negative shift", "shift", dict(shift=-1.0)),
        ("huge shift", "shift", dict(shift=21.0)),
        ("negative video guidance", "video_guidance", dict(video_guidance=-0.5)),
        ("huge video guidance", "video_guidance", dict(video_guidance=31.0)),
        ("negative audio guidance", "audio_guidance", dict(audio_guidance=-1.0)),
        ("huge audio guidance", "audio_guidance", dict(audio_guidance=1000.0)),
        ("slg past the last layer", "slg_layer", dict(slg_layer=3)),
        ("slg far past", "slg_layer", dict(slg_layer=99)),
        ("unknown solver", "solver", dict(solver=17)),
        ("unknown output", "outputs", dict(outputs=[99])),
        ("duplicate output", "outputs", dict(outputs=["latents", "latents"])),
        ("long client id", "client_request_id", dict(client_request_id="x" * 129)),
        ("embedding of the wrong dim", "conditioning",
         dict(embedding=rng.standard_normal((4, text_dim + 8)).astype(np.float32))),
        ("embedding longer than the text length", "conditioning", dict(embedding=good(text_len + 1))),
        ("negative of the wrong dim", "video_negative",
         dict(video_negative=rng.standard_normal((4, 32)).astype(np.float32))),
    ]


def test_invalid_requests_are_refused_and_the_server_keeps_serving(daemon):
    with ovid_client.OvidClient(daemon.address) as client:
        config = client.model().config
        cases = _bad_requests(config.text_dim, config.text_len)
        assert len(cases) >= 20
        for what, field, kwargs in cases:
            with pytest.raises(ovid_client.OvidError) as err:
                client.generate(make_request(client, **kwargs))
            assert err.value.code == INVALID, f"{what}: {err.value}"
            assert field in err.value.message, f"{what}: {err.value.message}"
        # Hand-made wire requests the Python helper would not build.
        broken = make_request(client)
        broken.conditioning.embedding.bf16 = broken.conditioning.embedding.bf16[:-2]
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(broken)
        assert err.value.code == INVALID and "conditioning" in err.value.message
        empty = pb.GenerateRequest(steps=1)
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(empty)
        assert err.value.code == INVALID and "conditioning" in err.value.message
        assert client.list_jobs() == []  # nothing was admitted
        assert client.generate(make_request(client, steps=1)).final.parameters.steps == 1
    assert daemon.proc.poll() is None


def test_a_string_field_that_is_not_utf8_is_refused_by_grpc_and_logged(daemon):
    # proto3 forbids invalid UTF-8 in a string field: gRPC's C++ parser refuses the request
    # before ovid's handler runs, and its callback API answers UNIMPLEMENTED with no message
    # (the proto's error table says so). The daemon's log names the field, at most 20 times in 10
    # s however many come (protobuf logs each one, before any token check), and it keeps serving.
    request = pb.GenerateRequest(steps=1)
    request.conditioning.prompt = "\u00e9"
    wire = request.SerializeToString()
    assert wire.count(b"\xc3\xa9") == 1
    wire = wire.replace(b"\xc3\xa9", b"\xff\xfe")
    with grpc.insecure_channel(daemon.address) as channel:
        call = channel.unary_stream("/ovid.v1.Generation/Generate",
                                    response_deserializer=pb.GenerateEvent.FromString)
        for _ in range(100):
            with pytest.raises(grpc.RpcError) as err:
                list(call(wire, timeout=30))
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert 1 <= daemon.log().count("ovid.v1.Conditioning.prompt") <= 20
    with ovid_client.OvidClient(daemon.address) as client:
        assert client.generate(make_request(client, steps=1)).final.parameters.steps == 1


def test_stages_and_formats_that_are_not_loaded_fail_the_precondition(daemon):
    with ovid_client.OvidClient(daemon.address) as client:
        for kwargs, words in [(dict(embedding=None, prompt="a cat"), "text encoder"),
                              (dict(outputs=["mp4"]), "the video VAE decoder"),
                              (dict(outputs=["wav"]), "the audio VAE and vocoder"),
                              (dict(outputs=["png_frames"]), "available: OUTPUT_FORMAT_LATENTS"),
                              (dict(first_frame=b"\x89PNG"), "first_frame")]:
            with pytest.raises(ovid_client.OvidError) as err:
                client.generate(make_request(client, **kwargs))
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION, kwargs
            assert words in err.value.message, err.value.message


def test_a_job_larger_than_the_vram_budget_is_refused_at_once(start_daemon):
    daemon = start_daemon("--vram-budget=1M")
    with ovid_client.OvidClient(daemon.address) as client:
        started = time.monotonic()
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(make_request(client))
        assert time.monotonic() - started < 5
        assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "1048576" in err.value.message and "VRAM" in err.value.message
    # The refusal's log line names the client, as the queue's own refusals must too.
    assert re.search(r"request refused code=RESOURCE_EXHAUSTED .*peer=ipv[46]:", daemon.log()), \
        daemon.log()


def _generate_with_estimate(daemon, seed):
    """(result, the estimate the Accepted event reported) for one guided LATENTS job."""
    with ovid_client.OvidClient(daemon.address) as client:
        events = []
        result = client.generate(make_request(client, seed=seed, steps=2), on_event=events.append)
        assert client.model().batch_guidance in ("on", "auto")
    return result, events[0].accepted.estimated_vram_bytes


def _digests(result):
    """The outputs as SHA-256 digests: equal bits compare equal, and a mismatch does not make
    pytest diff megabytes of latents (which took minutes)."""
    return {fmt: hashlib.sha256(data).hexdigest() for fmt, data in result.outputs.items()}


def test_batch_guidance_auto_batches_only_jobs_that_fit_a_workers_share(start_daemon):
    # The bits are compared across daemons, so each uses the fixed fused dispatch: a measured one
    # may resolve a near tie the other way on each load (fused or dequantized, equal within bf16
    # rounding, not bit for bit).
    fixed = "--fused-dispatch=fixed"
    on, on_estimate = _generate_with_estimate(start_daemon("--batch-guidance=on", fixed), seed=31)
    assert on.final.parameters.guidance_batched
    # auto (the default): the budget over --workers is each job's share. A share of exactly the
    # batched estimate batches, and gives the same bits as "on"; one byte less runs two passes.
    fits_daemon = start_daemon(f"--vram-budget={2 * on_estimate}", "--workers=2", fixed)
    fits, fits_estimate = _generate_with_estimate(fits_daemon, seed=31)
    assert fits.final.parameters.guidance_batched
    assert fits_estimate == on_estimate
    assert _digests(fits) == _digests(on)
    # The job's log line names the path; it is written a moment after the client's Final.
    deadline = time.monotonic() + 10
    while not any(f"job={fits.job_id}" in line for line in fits_daemon.log().splitlines()):
        assert time.monotonic() < deadline, fits_daemon.log()
        time.sleep(0.05)
    assert any(f"job={fits.job_id}" in line and "guidance=batched" in line
               for line in fits_daemon.log().splitlines())
    short, short_estimate = _generate_with_estimate(
        start_daemon(f"--vram-budget={2 * on_estimate - 2}", "--workers=2", fixed), seed=31)
    assert not short.final.parameters.guidance_batched
    assert short_estimate < on_estimate
    assert _digests(short) != _digests(on)


def _start_job(daemon, client, **kwargs):
    """Starts a kept job on a raw stream and returns (job_id, stream) once it is running."""
    request = make_request(client, keep_on_disconnect=True, **kwargs)
    channel = grpc.insecure_channel(daemon.address)
    stream = ovid_client.pb_grpc.GenerationStub(channel).Generate(request)
    job_id = None
    for event in stream:
        job_id = event.job_id
        if event.HasField("progress") and event.progress.step >= 1:
            break
    return job_id, stream, channel


def test_cancel_job_stops_the_job_within_one_step(start_daemon):
    daemon = start_daemon("--fault-step-delay-ms=200")
    with ovid_client.OvidClient(daemon.address) as client:
        job_id, stream, channel = _start_job(daemon, client, steps=50)
        status = client.cancel(job_id, wait=0)  # the answer as it is: the step the cancel met
        assert status.state == pb.JOB_STATE_RUNNING
        at_cancel = status.progress.step
        deadline = time.monotonic() + 10
        while client.get_job(job_id).state != pb.JOB_STATE_CANCELLED:
            assert time.monotonic() < deadline, "job not cancelled"
            time.sleep(0.05)
        final = client.get_job(job_id)
        assert final.error.code == grpc.StatusCode.CANCELLED.value[0]
        assert final.progress.step <= at_cancel + 1
        stream.cancel()
        channel.close()
        # The worker is free again.
        assert client.generate(make_request(client, steps=1)).final.parameters.steps == 1


def test_a_stream_cancelled_by_its_client_cancels_the_job(start_daemon):
    daemon = start_daemon("--fault-step-delay-ms=200")
    with ovid_client.OvidClient(daemon.address) as client:
        request = make_request(client, steps=50)
        with grpc.insecure_channel(daemon.address) as channel:
            stream = ovid_client.pb_grpc.GenerationStub(channel).Generate(request)
            job_id = next(stream).job_id
            stream.cancel()
        deadline = time.monotonic() + 10
        while client.get_job(job_id).state != pb.JOB_STATE_CANCELLED:
            assert time.monotonic() < deadline, "job not cancelled"
            time.sleep(0.05)
        assert client.get_job(job_id).progress.step < 50


def test_the_deadline_of_a_generate_call_stops_the_job(start_daemon):
    daemon = start_daemon("--fault-step-delay-ms=200")
    with ovid_client.OvidClient(daemon.address, timeout=1.5) as client:
        request = make_request(client, steps=50)
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(request)
        assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    with ovid_client.OvidClient(daemon.address) as client:
        job = client.list_jobs()[0]
        deadline = time.monotonic() + 10
        while client.get_job(job.job_id).state != pb.JOB_STATE_CANCELLED:
            assert time.monotonic() < deadline, "job still running past its deadline"
            time.sleep(0.05)
        ended = client.get_job(job.job_id)
        assert ended.error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
        assert ended.progress.step < 50
