"""The Python client against the fake daemon: reassembly and SHA-256 checks, re-attach,
WatchJob from an index, error codes, the bearer token, bf16 and latents conversions."""
import hashlib
import time

import grpc
import numpy as np
import pytest

from fake_server import CHUNK, output_bytes
from ovid_client import (OutputAssembler, OutputIntegrityError, OvidClient, OvidError, build_request,
                         embedding_to_array, parse_latents, pb, text_embedding)


def test_generate_reassembles_every_output_and_verifies_it(server):
    seen = []
    with OvidClient(server.address) as client:
        result = client.generate(prompt="a cat", steps=3, seed=7, width=256, height=128,
                                 outputs=["latents", "mp4"], on_event=seen.append)
    assert result.job_id == "job-0001"
    assert result.seed == 7
    assert result.final.parameters.steps == 3
    mp4 = output_bytes(pb.OUTPUT_FORMAT_MP4, 7, 256, 128)
    assert len(mp4) > 2 * CHUNK  # three chunks, so reassembly really happened
    assert result.outputs[pb.OUTPUT_FORMAT_MP4] == mp4
    latents = parse_latents(result.outputs[pb.OUTPUT_FORMAT_LATENTS])
    assert latents["video_latent"].shape == (48, 4, 8, 16)
    assert latents["audio_latent"].shape == (40, 20)
    assert latents["video_latent"].dtype == np.float32
    # Accepted, text_encode, 3 denoise steps, 1 + 3 chunks, Final: indices 0..9 in order.
    assert [ev.index for ev in seen] == list(range(10))
    assert [ev.WhichOneof("event") for ev in seen][:2] == ["accepted", "progress"]
    assert result.events == 10 and result.reattached == 0


def test_corrupted_chunk_is_detected(server):
    server.fake.corrupt_chunk = True
    with OvidClient(server.address) as client, pytest.raises(OutputIntegrityError) as err:
        client.generate(prompt="x", steps=1, outputs=["mp4"])
    assert err.value.code == grpc.StatusCode.DATA_LOSS
    assert "SHA-256" in err.value.message


def test_gap_in_chunks_is_detected(server):
    with OvidClient(server.address) as client:
        job = client.generate(prompt="x", steps=1, outputs=["mp4"])
        chunks = [ev.chunk for ev in client.watch(job.job_id) if ev.WhichOneof("event") == "chunk"]
    assert [c.seq for c in chunks] == [0, 1, 2]
    # Resuming one event too late loses chunk 0: refused, not written as a shorter file.
    with pytest.raises(OutputIntegrityError, match="seq 1, expected 0"):
        OutputAssembler().add(chunks[1])
    # An output that never got its last chunk is incomplete.
    asm = OutputAssembler()
    asm.add(chunks[0])
    with pytest.raises(OutputIntegrityError, match="before the output's last chunk"):
        asm.outputs()
    bad = pb.OutputChunk()
    bad.CopyFrom(chunks[2])
    bad.total_bytes += 1
    asm.add(chunks[1])
    with pytest.raises(OutputIntegrityError, match="the last chunk says"):
        asm.add(bad)


def test_watch_replays_from_the_given_index(server):
    with OvidClient(server.address) as client:
        result = client.generate(prompt="x", steps=4, outputs=["wav"])
        events = list(client.watch(result.job_id, from_event=4))
    assert [ev.index for ev in events] == [4, 5, 6, 7]
    assert events[0].progress.stage == "denoise" and events[0].progress.step == 3
    assert events[-1].WhichOneof("event") == "final"
    assert server.fake.calls_of("WatchJob")[0][1] == pb.JobRef(job_id=result.job_id,
                                                             from_event=4)
    # attach() follows the same job from event 0 and rebuilds the same verified output.
    with OvidClient(server.address) as client:
        again = client.attach(result.job_id)
    assert again.outputs == result.outputs and again.events == 8


def test_broken_stream_is_resumed_from_the_next_index(server):
    server.fake.drop_after = 4
    with OvidClient(server.address) as client:
        result = client.generate(prompt="x", steps=3, outputs=["mp4"], seed=3,
                                 keep_on_disconnect=True, priority=4, max_queue_seconds=90)
    assert result.reattached == 1
    assert result.outputs[pb.OUTPUT_FORMAT_MP4] == output_bytes(pb.OUTPUT_FORMAT_MP4, 3, 704, 704)
    (_, ref), = server.fake.calls_of("WatchJob")
    assert ref.from_event == 5
    sent = server.fake.calls_of("Generate")[0][1]
    assert sent.keep_on_disconnect and sent.priority == 4
    assert sent.HasField("max_queue_seconds") and sent.max_queue_seconds == 90


def test_a_drop_right_after_final_still_returns_the_result(server):
    # Accepted, text_encode, one step, the WAV chunk, Final (index 4), then UNAVAILABLE.
    server.fake.drop_after = 4
    with OvidClient(server.address) as client:
        result = client.generate(prompt="x", steps=1, outputs=["wav"], seed=3)
    assert result.outputs[pb.OUTPUT_FORMAT_WAV] == output_bytes(pb.OUTPUT_FORMAT_WAV, 3, 704, 704)
    assert result.final.seed == 3
    assert server.fake.calls_of("WatchJob") == []


def test_job_error_carries_its_code_and_message(server):
    server.fake.fail_at_step = (2, grpc.StatusCode.RESOURCE_EXHAUSTED, "CUDA out of memory")
    with OvidClient(server.address) as client, pytest.raises(OvidError) as err:
        client.generate(prompt="x", steps=5)
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.message == "CUDA out of memory"
    assert err.value.job_id == "job-0001"


def test_a_job_error_lets_the_call_end_with_the_jobs_status(server):
    # After the JobError the client reads to the call's end instead of cancelling it, so the
    # server ends the call with the job's status (the daemon's RPC metrics count that, not a
    # CANCELLED that races the client). The fake waits before ending to make a cancel visible.
    server.fake.fail_at_step = (2, grpc.StatusCode.RESOURCE_EXHAUSTED, "CUDA out of memory")
    server.fake.end_delay = 0.3
    with OvidClient(server.address) as client:
        with pytest.raises(OvidError) as err:
            client.generate(prompt="x", steps=3, outputs=["wav"])
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert server.fake.error_ends == [(grpc.StatusCode.RESOURCE_EXHAUSTED, True)]


def test_call_errors_carry_their_code(server):
    with OvidClient(server.address) as client:
        with pytest.raises(OvidError) as err:
            client.get_job("nope")
        assert err.value.code == grpc.StatusCode.NOT_FOUND and "nope" in err.value.message
        with pytest.raises(OvidError) as err:
            client.generate(prompt="x", steps=500)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.message == "steps: must be in 1..200"
        with pytest.raises(OvidError) as err:
            list(client.watch("nope"))
        assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_bearer_token_is_sent_and_required(server):
    server.fake.token = "s3cret"
    with OvidClient(server.address, token="s3cret") as client:
        assert client.model().config.text_dim == 4096
    md, _ = server.fake.calls_of("GetModel")[0]
    assert md["authorization"] == "Bearer s3cret"
    with OvidClient(server.address) as client, pytest.raises(OvidError) as err:
        client.model()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    # A file's or a Secret's newline is stripped; a byte no header can carry is a ValueError that
    # does not echo the token (gRPC said INTERNAL "Invalid metadata", as if the server failed).
    with OvidClient(server.address, token="s3cret\n") as client:
        assert client.model().config.text_dim == 4096
    with pytest.raises(ValueError, match="outside printable ASCII .* at offset 6") as bad:
        OvidClient(server.address, token="s3cret\nline two")
    assert "s3cret" not in str(bad.value)


def test_list_jobs_sends_its_filter_with_every_page_and_outputs_take_one_name(server):
    server.fake.list_page_size = 1
    for _ in range(3):
        server.fake.start_job(build_request(prompt="x", steps=1))
    with OvidClient(server.address) as client:
        # A generator is used up by the first page; pages 2+ went out without the filter.
        states = (s for s in [pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_RUNNING, pb.JOB_STATE_QUEUED])
        client.list_jobs(states=states)
        requests = [req for _, req in server.fake.calls_of("ListJobs")]
        assert len(requests) >= 2
        assert all(len(req.states) == 3 for req in requests), requests
        # One format by name: "mp4" was read as the formats "m", "p" and "4".
        assert list(build_request(prompt="x", outputs="mp4").outputs) == [pb.OUTPUT_FORMAT_MP4]


def test_jobs_cancel_health(server):
    server.fake.step_delay = 0.05
    job = server.fake.start_job(build_request(prompt="slow", steps=200))
    with OvidClient(server.address) as client:
        assert client.get_job(job.job_id).job_id == job.job_id
        assert [j.job_id for j in client.list_jobs()] == [job.job_id]
        while client.get_job(job.job_id).state != pb.JOB_STATE_RUNNING:
            time.sleep(0.01)
        # The server answers at once (RUNNING); cancel() follows the job to its end.
        assert client.cancel(job.job_id).state == pb.JOB_STATE_CANCELLED
        assert client.list_jobs(states=[pb.JOB_STATE_RUNNING]) == []
        server.fake.ignore_cancel = True
        stubborn = server.fake.start_job(build_request(prompt="slow", steps=200))
        while client.get_job(stubborn.job_id).state != pb.JOB_STATE_RUNNING:
            time.sleep(0.01)
        assert client.cancel(stubborn.job_id, wait=0).state == pb.JOB_STATE_RUNNING
        started = time.monotonic()
        assert client.cancel(stubborn.job_id, wait=0.3).state == pb.JOB_STATE_RUNNING
        assert time.monotonic() - started >= 0.3
        server.fake.ignore_cancel = False
        assert client.cancel(stubborn.job_id).state == pb.JOB_STATE_CANCELLED
        # Ended and dropped at once (--job-ttl=0): how it ended is not known.
        server.fake.forget_on_cancel = True
        gone = server.fake.start_job(build_request(prompt="slow", steps=200))
        while client.get_job(gone.job_id).state != pb.JOB_STATE_RUNNING:
            time.sleep(0.01)
        assert client.cancel(gone.job_id) is None
        assert client.health() == "SERVING"
        assert client.health("ovid.v1.Generation") == "NOT_SERVING"
        with pytest.raises(OvidError) as err:
            client.health("no.such.Service")
        assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_text_embedding_is_bf16_round_to_nearest_even(server):
    # 1 + 2^-8 is halfway between two bf16 values: ties go to the even mantissa (1.0);
    # 1 + 3*2^-8 ties to 1 + 2^-6 (even); just above halfway rounds up.
    values = np.array([[1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -2.5]],
                      dtype=np.float32)
    emb = text_embedding(values)
    assert emb.tokens == 1 and emb.dim == 4
    assert np.frombuffer(emb.bf16, "<u2").tolist() == [0x3F80, 0x3F82, 0x3F81, 0xC020]
    ctx = np.random.default_rng(0).standard_normal((7, 4096)).astype(np.float64)
    with OvidClient(server.address) as client:
        client.generate(embedding=ctx, steps=1)
    (_, req), = server.fake.calls_of("Generate")
    got = embedding_to_array(req.conditioning.embedding)
    assert got.shape == (7, 4096)
    np.testing.assert_allclose(got, ctx, rtol=2 ** -8)
    with pytest.raises(ValueError):
        text_embedding(np.zeros(4))


def test_request_accepts_a_proto_and_rejects_unknown_fields(server):
    with pytest.raises(TypeError, match="stepz"):
        build_request(prompt="x", stepz=3)
    req = build_request(prompt="x", steps=2, solver="dpmpp", shift=3.0)
    with OvidClient(server.address) as client:
        result = client.generate(req)
    assert result.final.parameters.solver == pb.SOLVER_DPMPP
    assert result.final.parameters.shift == 3.0
    assert hashlib.sha256(result.outputs[pb.OUTPUT_FORMAT_LATENTS]).digest()


def test_channels_send_keepalive_pings_without_a_ping_limit(server, monkeypatch):
    # A queued job sends nothing for minutes; without pings a proxy or NAT that drops idle
    # connections ends the stream silently. gRPC's default also stops pinging after 2 pings
    # without data, so the limit must be off.
    seen = []
    real = grpc.insecure_channel

    def spy(target, options=None, **kwargs):
        seen.append(dict(options or ()))
        return real(target, options=options, **kwargs)

    monkeypatch.setattr(grpc, "insecure_channel", spy)
    with OvidClient(server.address) as client:
        assert client.health() is not None
    assert seen and seen[0].get("grpc.keepalive_time_ms") == 60000
    assert seen[0].get("grpc.keepalive_timeout_ms") == 20000
    assert seen[0].get("grpc.http2.max_pings_without_data") == 0


def test_a_half_given_tls_identity_is_a_value_error_not_an_abort(server):
    # gRPC's core aborted the whole process (SIGABRT, "Check failed: private_key != nullptr")
    # on a client certificate without its key, or a key without its certificate.
    with pytest.raises(ValueError, match="tls_cert and tls_key go together.*only tls_cert"):
        OvidClient(server.address, tls_cert=b"-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="only tls_key"):
        OvidClient(server.address, tls_ca=b"x", tls_key=b"-----BEGIN PRIVATE KEY-----\n")


def test_request_values_a_field_cannot_hold_name_the_field(server):
    # protobuf's own messages named neither the field nor the value: "Value out of range: -1".
    for kwargs, error, words in (({"seed": -1}, ValueError, "seed: .*got -1"),
                                 ({"seed": 2 ** 64}, ValueError, "seed: "),
                                 ({"steps": 2.5}, TypeError, "steps: .*got 2.5"),
                                 ({"width": "3"}, TypeError, "width: ")):
        with pytest.raises(error, match=words):
            build_request(prompt="x", **kwargs)


def test_none_leaves_any_request_field_out(server):
    req = build_request(prompt="x", steps=None, solver=None, outputs=None, first_frame=None,
                        client_request_id=None, keep_on_disconnect=None, video_negative=None)
    assert req == pb.GenerateRequest(conditioning=pb.Conditioning(prompt="x"))
    with OvidClient(server.address) as client:
        assert client.generate(prompt="x", steps=1, first_frame=None).job_id


def test_tokens_as_bytes_and_with_their_bearer_prefix(server):
    server.fake.token = "s3cret"
    # As read from a file in binary mode: accepted like the text.
    with OvidClient(server.address, token=b"s3cret\n") as client:
        assert client.model().config.text_dim == 4096
    with pytest.raises(ValueError, match="byte outside ASCII at offset 2"):
        OvidClient(server.address, token=b"s3\xffcret")
    # "Bearer s3cret" was refused for its space at offset 6, with no hint why.
    with pytest.raises(ValueError, match='without its "Bearer " prefix') as bad:
        OvidClient(server.address, token="Bearer s3cret")
    assert "s3cret" not in str(bad.value)


def test_pem_text_is_a_pem_and_other_strings_are_paths(server, tmp_path):
    from ovid_client.client import _read
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert _read(pem) == pem.encode()
    path = tmp_path / "ca.pem"
    path.write_text(pem)
    assert _read(str(path)) == pem.encode() and _read(path) == pem.encode()


def test_list_jobs_takes_states_by_short_name_and_one_state_alone(server):
    for _ in range(2):
        server.fake.start_job(build_request(prompt="x", steps=1))
    with OvidClient(server.address) as client:
        for states in ("running", "JOB_STATE_RUNNING", pb.JOB_STATE_RUNNING, ["Running"]):
            client.list_jobs(states=states)
        client.list_jobs(states=("succeeded", "failed"))
        with pytest.raises(ValueError, match="unknown job state 'r'.*running"):
            client.list_jobs(states=["r"])
    requests = [list(req.states) for _, req in server.fake.calls_of("ListJobs")]
    assert requests == [[pb.JOB_STATE_RUNNING]] * 4 + [[pb.JOB_STATE_SUCCEEDED,
                                                        pb.JOB_STATE_FAILED]]


def test_a_closed_client_says_so(server):
    client = OvidClient(server.address)
    client.close()
    for call in (client.model, client.health, lambda: client.generate(prompt="x"),
                 lambda: list(client.watch("job-1")), lambda: client.attach("job-1")):
        with pytest.raises(ValueError, match="this OvidClient is closed"):
            call()


def test_a_job_not_kept_on_disconnect_is_reattached_once_only(server):
    # Its daemon cancelled it when the stream broke; retrying with back-off against a daemon that
    # is gone only delayed the error (5 s by default).
    server.fake.drop_after = 2
    server.fake.watch_unavailable = True
    with OvidClient(server.address, reattach_attempts=3) as client:
        with pytest.raises(OvidError) as err:
            client.generate(prompt="x", steps=3, seed=3)
        assert err.value.code == grpc.StatusCode.UNAVAILABLE and err.value.job_id
        assert len(server.fake.calls_of("WatchJob")) == 1
        with pytest.raises(OvidError):
            client.generate(prompt="x", steps=3, seed=3, keep_on_disconnect=True)
        assert len(server.fake.calls_of("WatchJob")) == 1 + 3
