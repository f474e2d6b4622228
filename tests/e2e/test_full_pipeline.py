"""Text (or text + first frame) to MP4 with sound through a daemon that holds every stage: the
tiny Ovi denoiser plus small random-weight components (UMT5, Wan2.2 VAE, MMAudio VAE, BigVGAN,
each written by `ovid-gguf synth`, and a SentencePiece model trained here). The output is noise,
but real files: the MP4 is probed and decoded with ffmpeg, the WAV and PNG frames are compared
with each other and with the MP4, and offloading must not change a single byte."""
import io
import json
import random
import subprocess
import tarfile
import wave

import grpc
import numpy as np
import pytest
import sentencepiece as spm

import ovid_client
from conftest import BIN
from ovid_client import pb

FRAMES = 121        # the 128x128_5s test variant: 31 latent frames -> 1 + 4 * 30
SAMPLES = 157 * 2 * 256  # 157 audio latents -> 314 mel frames -> 80,384 samples at 16 kHz


def synth(path, preset, *flags):
    subprocess.run([str(BIN / "ovid-gguf"), "synth", str(path), "--preset", preset, "--seed", "3",
                    *flags], check=True, capture_output=True)
    return path


def train_tokenizer(path):
    rng = random.Random(0)
    words = "a the cat dog sings park rain night music voice says hello waves".split()
    lines = (" ".join(rng.choice(words) for _ in range(8)) for _ in range(500))
    with open(path, "wb") as f:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines, model_writer=f, model_type="unigram", vocab_size=60, hard_vocab_limit=False,
            character_coverage=1.0, normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1,
            bos_id=2, unk_id=3, num_threads=1, minloglevel=2)
    return path


@pytest.fixture(scope="session")
def components(tmp_path_factory):
    d = tmp_path_factory.mktemp("components")
    return {
        # ovi-tiny's text_dim is 256: the encoder must be that wide.
        "--text-encoder": synth(d / "umt5.gguf", "umt5-tiny", "--d-model", "256"),
        "--tokenizer": train_tokenizer(d / "spiece.model"),
        "--vae": synth(d / "vae.safetensors", "wan-vae-tiny"),
        "--audio-vae": synth(d / "mmaudio.safetensors", "mmaudio-vae-tiny"),
        "--vocoder": synth(d / "bigvgan.safetensors", "bigvgan-tiny"),
    }


def flags(components, *extra):
    return [f"{k}={v}" for k, v in components.items()] + list(extra)


ALL = ["mp4", "wav", "png_frames", "latents"]


def generate(daemon, **kwargs):
    events = []
    fields = dict(prompt="a cat sings in the rain <AUDCAP>soft music<ENDAUDCAP>", seed=4, steps=2)
    fields.update(kwargs)
    with ovid_client.OvidClient(daemon.address) as client:
        result = client.generate(ovid_client.build_request(**fields), on_event=events.append)
    return result, events


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-count_frames", "-of",
                          "json", str(path)], check=True, capture_output=True, text=True)
    return {s["codec_type"]: s for s in json.loads(out.stdout)["streams"]}


def decode_frames(path, width, height):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def png_frames(data):
    frames = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = sorted(m.name for m in tar.getmembers())
        assert names == [f"frame_{i:05d}.png" for i in range(len(names))]
        for name in names:
            png = tar.extractfile(name).read()
            raw = subprocess.run(["ffmpeg", "-v", "error", "-i", "-", "-f", "rawvideo",
                                  "-pix_fmt", "rgb24", "-"], input=png, check=True,
                                 capture_output=True).stdout
            frames.append(raw)
    return frames


def wav_samples(data):
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        return np.frombuffer(w.readframes(w.getnframes()), np.int16)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")


def test_prompt_to_mp4_wav_png_and_latents(start_daemon, components, tmp_path):
    daemon = start_daemon(*flags(components))
    result, events = generate(daemon, outputs=ALL)
    final = result.final
    w, h = final.parameters.width, final.parameters.height
    assert (w, h) == (128, 128)
    assert final.parameters.video_frames == FRAMES
    assert final.parameters.audio_samples == SAMPLES

    # Every stage ran, in Ovi's order, reported progress, and was timed.
    stages = [e.progress.stage for e in events if e.HasField("progress")]
    order = [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s]
    assert order == ["text_encode", "denoise", "audio_decode", "video_decode", "mux"]
    timed = {s.stage: s for s in final.stages}
    assert set(timed) == {"text_encode", "denoise", "audio_decode", "video_decode", "mux"}
    assert all(s.seconds > 0 for s in timed.values())
    decode = [e.progress for e in events if e.HasField("progress")
              and e.progress.stage == "video_decode"]
    assert decode[-1].step == decode[-1].total == 31  # one chunk per latent frame

    # WAV: 16-bit mono 16 kHz, every sample the vocoder made, not silent, not clipped.
    samples = wav_samples(result.outputs[pb.OUTPUT_FORMAT_WAV])
    assert samples.size == SAMPLES
    assert samples.std() > 100 and np.mean(np.abs(samples) >= 32767) < 0.01

    # PNG frames: 121 lossless RGB frames of the requested size.
    pngs = png_frames(result.outputs[pb.OUTPUT_FORMAT_PNG_FRAMES])
    assert len(pngs) == FRAMES and all(len(p) == w * h * 3 for p in pngs)
    exact = np.stack([np.frombuffer(p, np.uint8).reshape(h, w, 3) for p in pngs])
    assert exact.std() > 5  # not a flat image

    # MP4: H.264 yuv420p 24 fps + AAC, probed and decoded again by ffmpeg.
    mp4 = tmp_path / "out.mp4"
    mp4.write_bytes(result.outputs[pb.OUTPUT_FORMAT_MP4])
    streams = probe(mp4)
    v, a = streams["video"], streams["audio"]
    assert (v["codec_name"], v["pix_fmt"], v["width"], v["height"]) == ("h264", "yuv420p", w, h)
    assert int(v["nb_read_frames"]) == FRAMES and v["r_frame_rate"] == "24/1"
    assert a["codec_name"] == "aac"
    assert abs(float(a["duration"]) - SAMPLES / 16000) < 0.05
    decoded = decode_frames(mp4, w, h)
    assert decoded.shape[0] == FRAMES
    # Random-weight frames are pixel noise, the worst case for x264 and for yuv420p's halved
    # chroma (a per-pixel PSNR of ~18 dB at CRF 23); the media tests check >= 35 dB on
    # natural-looking frames. Here: the picture's content survives, compared on 4x4 block means.
    blocks = lambda x: x.reshape(FRAMES, h // 4, 4, w // 4, 4, 3).astype(np.float64).mean((2, 4))  # noqa: E731
    assert psnr(blocks(decoded), blocks(exact)) > 30

    # LATENTS came too, and decode to what the other outputs were made from.
    latents = ovid_client.parse_latents(result.outputs[pb.OUTPUT_FORMAT_LATENTS])
    assert latents["video_latent"].shape == (48, 31, 8, 8)
    assert latents["audio_latent"].shape == (157, 20)

    # GetModel: every stage loaded, from which file, and what can be asked for.
    with ovid_client.OvidClient(daemon.address) as client:
        model = client.model()
    loaded = {s.name: (s.loaded, s.offloaded, s.file) for s in model.stages}
    assert loaded["text_encoder"] == (True, False, "umt5.gguf")
    assert loaded["video_vae"] == (True, False, "vae.safetensors")
    assert loaded["audio_vae"] == (True, False, "mmaudio.safetensors")
    assert loaded["vocoder"] == (True, False, "bigvgan.safetensors")
    assert set(model.output_formats) == {pb.OUTPUT_FORMAT_LATENTS, pb.OUTPUT_FORMAT_MP4,
                                         pb.OUTPUT_FORMAT_WAV, pb.OUTPUT_FORMAT_PNG_FRAMES}


def test_default_output_is_the_mp4_and_offloading_changes_no_byte(start_daemon, components):
    resident = start_daemon(*flags(components))
    offloaded = start_daemon(*flags(components, "--offload=text,vae,audio", "--log-format=json"))
    # No outputs asked for: the MP4; no negatives given at guidance != 1: Ovi's defaults.
    kinds = ["wav", "png_frames"]
    a, _ = generate(resident, outputs=kinds, seed=9)
    b, events = generate(offloaded, outputs=kinds, seed=9)
    assert a.outputs == b.outputs
    c, _ = generate(offloaded, seed=9)
    assert list(c.outputs) == [pb.OUTPUT_FORMAT_MP4]
    with ovid_client.OvidClient(offloaded.address) as client:
        stages = {s.name: s.offloaded for s in client.model().stages}
    assert stages == {"denoiser": False, "text_encoder": True, "video_vae": True,
                      "audio_vae": True, "vocoder": True}
    # --log-format=json: every line one JSON object, the engine's own (load summaries, the MP4
    # codecs' libav lines) included; they were plain text between the JSON lines.
    lines = [line for line in offloaded.log().splitlines() if line.strip()]
    for line in lines:
        json.loads(line)
    assert any('"source":"engine"' in line and "resident by type" in line for line in lines)


def test_a_prompt_differs_from_another_and_negatives_matter(start_daemon, components):
    daemon = start_daemon(*flags(components))
    base, _ = generate(daemon, outputs=["latents"])
    other, _ = generate(daemon, outputs=["latents"], prompt="a dog says hello")
    negative, _ = generate(daemon, outputs=["latents"], video_negative="rain")
    same, _ = generate(daemon, outputs=["latents"])
    latents = lambda r: r.outputs[pb.OUTPUT_FORMAT_LATENTS]  # noqa: E731
    assert latents(base) == latents(same)
    assert latents(base) != latents(other)
    assert latents(base) != latents(negative)


def test_image_to_video_takes_the_frame_and_its_aspect(start_daemon, components, tmp_path):
    daemon = start_daemon(*flags(components))
    png = tmp_path / "frame.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x180",
                    "-frames:v", "1", str(png)], check=True)
    result, events = generate(daemon, outputs=["png_frames", "latents"],
                              first_frame=png.read_bytes())
    p = result.final.parameters
    assert (p.width, p.height) == (160, 96)  # 16:9 at the test variant's 128^2 area
    stages = {e.progress.stage for e in events if e.HasField("progress")}
    assert "image_encode" in stages
    assert len(png_frames(result.outputs[pb.OUTPUT_FORMAT_PNG_FRAMES])) == FRAMES
    # Not an image: INVALID_ARGUMENT naming the field, before the job is queued.
    with ovid_client.OvidClient(daemon.address) as client:
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(ovid_client.build_request(prompt="x", first_frame=b"GIF89a....",
                                                      steps=1))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "first_frame" in err.value.message
    # A JPEG whose structure is whole but whose scan names Huffman tables the file never defines:
    # only the decoder can tell. Refused at admission too (a rejection, no job), not after a
    # queue wait as a failed job that would count against the error-rate alert.
    jpg = tmp_path / "frame.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x180",
                    "-frames:v", "1", str(jpg)], check=True)
    data = bytearray(jpg.read_bytes())
    data[data.index(b"\xff\xda") + 6] = 0x33
    with ovid_client.OvidClient(daemon.address) as client:
        jobs_before = len(client.list_jobs())
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(ovid_client.build_request(prompt="x", first_frame=bytes(data),
                                                      steps=1))
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "first_frame: the JPEG decoder rejected the image" in err.value.message
        assert len(client.list_jobs()) == jobs_before
    assert daemon.metric("ovid_requests_total", outcome="failed") == 0
    assert daemon.metric("ovid_requests_total", outcome="rejected") == 2


@pytest.mark.parametrize("broken", ["missing", "mismatched"])
def test_a_bad_component_file_stops_the_start_naming_it(start_daemon, components, tmp_path,
                                                        broken):
    files = dict(components)
    if broken == "missing":
        files["--vae"] = tmp_path / "nope.safetensors"
        named = "nope.safetensors"
    else:
        # A UMT5 of the preset's own width (64) cannot feed the denoiser (text_dim 256).
        files["--text-encoder"] = synth(tmp_path / "narrow.gguf", "umt5-tiny")
        named = "narrow.gguf"
    daemon = start_daemon(*flags(files), ready=False)
    assert daemon.proc.wait(timeout=120) != 0
    assert named in daemon.log()


def test_ovidctl_generate_prompt_to_mp4_file(start_daemon, components, tmp_path):
    """The issue's command line: `ovidctl generate --prompt "..." -o out.mp4` (plus a WAV)."""
    daemon = start_daemon(*flags(components))
    mp4, wav = tmp_path / "out.mp4", tmp_path / "out.wav"
    run = subprocess.run([str(BIN / "ovidctl"), f"--address={daemon.address}", "generate",
                          "--prompt", "a dog says <S>hello<E>", "--steps", "2", "-o", str(mp4),
                          "--output", str(wav)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    streams = probe(mp4)
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert int(streams["video"]["nb_read_frames"]) == FRAMES
    assert wav_samples(wav.read_bytes()).size == SAMPLES
    # An extension that names no format is a usage error (exit 2) before anything is sent.
    bad = subprocess.run([str(BIN / "ovidctl"), f"--address={daemon.address}", "generate",
                          "--prompt", "x", "-o", str(tmp_path / "out.avi")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and ".mp4" in bad.stderr
