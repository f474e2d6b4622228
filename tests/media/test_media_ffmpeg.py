"""engine/media's outputs checked by independent readers, through ovid-media-cli.

- WAV: Python's `wave` module reads it back; the samples equal Ovi's numpy expression
  (np.clip(a, -1, 1) * np.float32(32767)).astype(np.int16) bit for bit (Ovi clips nothing; the
  test audio stays inside [-1, 1] except for deliberate clamping probes).
- PNG frames: `tarfile` unpacks the archive, ffmpeg decodes each PNG; the pixels equal Ovi's
  ((np.clip(x, -1, 1) + 1) / 2 * 255).astype(np.uint8) bit for bit, in float32.
- MP4: ffprobe (no errors) reports h264 yuv420p at the requested size, 24 fps, every frame,
  BT.709 tags, and an aac stream at 44.1 kHz stereo (16 kHz mono when asked); the moov atom
  precedes mdat (faststart). ffmpeg decodes it again: PSNR against the 8-bit input >= 35 dB at
  the default CRF 23, and the audio correlates > 0.99 with the same sines evaluated at the
  output rate.
The content is smooth (gradients, a moving soft blob; sums of sines): white noise has no
structure for a codec to keep, so no encoder at a sane bit rate reaches 35 dB on it.
"""
import json
import os
import subprocess
import tarfile
import wave
import io
from pathlib import Path

import numpy as np
import pytest

BIN = Path(os.environ.get("OVID_BIN", "build/bin")) / "ovid-media-cli"
T, H, W = 25, 96, 128     # 25 frames at 24 fps: 1.042 s
RATE = 16000
N_AUDIO = 16800           # 1.05 s
TONES = ((0.45, 440.0), (0.25, 1250.0), (0.15, 3100.0))


def make_video(frames=T, height=H, width=W):
    """[3, T, H, W] float32: colour ramps plus a soft blob moving across, a little over range
    at the corners so the clamp is exercised."""
    t = np.arange(frames, dtype=np.float64)[:, None, None]
    y = np.arange(height, dtype=np.float64)[None, :, None]
    x = np.arange(width, dtype=np.float64)[None, None, :]
    cx = 0.2 * width + 0.6 * width * t / frames
    cy = 0.5 * height + 0.2 * height * np.sin(t / 4)
    blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.01 * width * height))
    r = 1.1 * (x / width - 0.5) + 0.7 * blob
    g = 1.1 * (y / height - 0.5) - 0.4 * blob + 0 * t
    b = 0.5 * np.sin(2 * np.pi * (x + y) / (width + height) + t / 8) - 0.6 * blob
    return np.stack(np.broadcast_arrays(r, g, b)).astype(np.float32)


def tone(n, rate):
    t = np.arange(n, dtype=np.float64) / rate
    return sum(a * np.sin(2 * np.pi * f * t) for a, f in TONES)


def ovi_pixels(video, rounding="truncate"):
    """Ovi's save_video conversion in numpy float32 (astype truncates; "nearest" is np.rint),
    as [T, H, W, 3] uint8."""
    v = (np.clip(video, -1, 1) + np.float32(1)) / np.float32(2) * np.float32(255)
    v = (np.rint(v) if rounding == "nearest" else v).astype(np.uint8)
    return np.ascontiguousarray(v.transpose(1, 2, 3, 0))


def cli(tmp_path, command, video=None, audio=None, *extra, check=True):
    args = [str(BIN), command, "-o", str(tmp_path / f"out.{command}")]
    if video is not None:
        (tmp_path / "video.f32").write_bytes(video.astype("<f4").tobytes())
        args += ["--video", str(tmp_path / "video.f32"), "--frames", str(video.shape[1]),
                 "--height", str(video.shape[2]), "--width", str(video.shape[3])]
    if audio is not None:
        (tmp_path / "audio.f32").write_bytes(np.asarray(audio, "<f4").tobytes())
        args += ["--audio", str(tmp_path / "audio.f32"), "--rate", str(RATE)]
    proc = subprocess.run(args + [str(e) for e in extra], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc, tmp_path / f"out.{command}"


def ffprobe(path):
    proc = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_streams",
                           "-show_format", "-of", "json", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    info = json.loads(proc.stdout)
    streams = {s["codec_type"]: s for s in info["streams"]}
    return streams, info["format"]


def decode(path, *out_args):
    proc = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), *out_args, "-"],
                          capture_output=True)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()
    return proc.stdout


def top_level_boxes(data):
    boxes, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        boxes.append(data[at + 4:at + 8].decode("latin-1"))
        assert size >= 8, f"bad box size {size} at {at}"
        at += size
    assert at == len(data)
    return boxes


def check_decoded_audio(pcm, expected, rate):
    """The container says `expected` samples (checked by the caller). ffmpeg 5.1's decode trims
    the encoder's priming but keeps the last AAC frame's padding, as it does for files of its own
    CLI, so up to 1023 zero-ish samples follow. The signal must be the same sines evaluated at
    the output rate: that is the resampled input, without resampling anything here."""
    assert expected <= len(pcm) < expected + 1024, (len(pcm), expected)
    pcm = pcm[:expected]
    assert np.corrcoef(pcm, tone(expected, rate))[0, 1] > 0.99
    assert np.sqrt(np.mean(pcm ** 2)) == pytest.approx(np.sqrt(sum(a * a / 2 for a, _ in TONES)),
                                                       rel=0.05)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("rounding", ["truncate", "nearest"])
def test_wav_equals_the_documented_conversion(tmp_path, rounding):
    a = tone(N_AUDIO, RATE).astype(np.float32)
    a[:4] = [1.0, -1.0, 1.25, -3.0]  # the ends, and clamping
    _, out = cli(tmp_path, "wav", None, a, "--rounding", rounding)
    with wave.open(str(out), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == \
            (1, 2, RATE, "NONE")
        got = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    scaled = np.clip(a, -1, 1) * np.float32(32767)
    want = (np.rint(scaled) if rounding == "nearest" else scaled).astype(np.int16)
    np.testing.assert_array_equal(got, want)
    assert got[:2].tolist() == [32767, -32767]


@pytest.mark.parametrize("rounding", ["truncate", "nearest"])
def test_png_frames_equal_the_documented_conversion(tmp_path, rounding):
    video = make_video(5, 48, 40)
    video[:, :, 0, :4] = [1.0, -1.0, 1.3, -2.0]  # the ends, and clamping
    video[:, :, 1, 0] = 0.0                       # 127.5: where the two roundings differ
    _, out = cli(tmp_path, "png", video, None, "--rounding", rounding)
    with tarfile.open(out) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [f"frame_{t:05d}.png" for t in range(5)]
        assert all(m.isfile() and m.mode == 0o644 for m in members)
        pngs = [tar.extractfile(m).read() for m in members]
    want = ovi_pixels(video, rounding)
    assert want[0, 1, 0, 0] == (128 if rounding == "nearest" else 127)
    for t, png in enumerate(pngs):
        (tmp_path / "f.png").write_bytes(png)
        got = np.frombuffer(decode(tmp_path / "f.png", "-f", "rawvideo", "-pix_fmt", "rgb24"),
                            np.uint8).reshape(48, 40, 3)
        np.testing.assert_array_equal(got, want[t], err_msg=f"frame {t}")


def test_mp4_streams_faststart_and_quality(tmp_path):
    video = make_video()
    audio = tone(N_AUDIO, RATE).astype(np.float32)
    _, out = cli(tmp_path, "mp4", video, audio)
    data = out.read_bytes()
    boxes = top_level_boxes(data)
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat"), boxes

    streams, fmt = ffprobe(out)
    v, a = streams["video"], streams["audio"]
    assert (v["codec_name"], v["pix_fmt"], v["width"], v["height"]) == ("h264", "yuv420p", W, H)
    assert v["r_frame_rate"] == "24/1" and v["avg_frame_rate"] == "24/1"
    assert int(v["nb_read_frames"]) == T
    assert float(v["duration"]) == pytest.approx(T / 24, abs=1e-3)
    assert (v["color_space"], v["color_range"]) == ("bt709", "tv")
    assert (a["codec_name"], int(a["sample_rate"]), a["channels"]) == ("aac", 44100, 2)
    expected = N_AUDIO * 44100 // RATE  # 46305: 1.05 s, resampled exactly
    assert int(a["duration_ts"]) == expected and a["time_base"] == "1/44100"

    frames = np.frombuffer(decode(out, "-f", "rawvideo", "-pix_fmt", "rgb24"), np.uint8)
    frames = frames.reshape(T, H, W, 3)
    ref = ovi_pixels(video)
    per_frame = [psnr(frames[t], ref[t]) for t in range(T)]
    assert psnr(frames, ref) >= 35 and min(per_frame) >= 33, per_frame

    pcm = np.frombuffer(decode(out, "-f", "f32le", "-acodec", "pcm_f32le"), "<f4").reshape(-1, 2)
    # The mono track on both channels at full level (AAC codes them separately, so they
    # decode close to each other, not bit-equal).
    for channel in (0, 1):
        check_decoded_audio(pcm[:, channel], expected, 44100)
    assert np.abs(pcm[:, 0] - pcm[:, 1]).max() < 0.02


def test_mp4_native_audio_rate_mono(tmp_path):
    audio = tone(N_AUDIO, RATE).astype(np.float32)
    _, out = cli(tmp_path, "mp4", make_video(9, 64, 64), audio, "--audio-rate", 16000,
                 "--channels", 1, "--crf", 18, "--preset", "veryfast")
    streams, _ = ffprobe(out)
    a = streams["audio"]
    assert (a["codec_name"], int(a["sample_rate"]), a["channels"]) == ("aac", 16000, 1)
    assert int(a["duration_ts"]) == N_AUDIO
    assert int(streams["video"]["nb_read_frames"]) == 9
    pcm = np.frombuffer(decode(out, "-f", "f32le", "-acodec", "pcm_f32le"), "<f4")
    check_decoded_audio(pcm, N_AUDIO, RATE)


@pytest.mark.parametrize("what, extra, needle", [
    ("odd width", (), "even"),
    ("bad crf", ("--crf", 60), "crf"),
    ("bad preset", ("--preset", "quick"), "preset"),
    ("bad audio rate", ("--audio-rate", 12345), "AAC rate"),
])
def test_mp4_refusals(tmp_path, what, extra, needle):
    video = make_video(3, 32, 33) if what == "odd width" else make_video(3, 32, 32)
    proc, out = cli(tmp_path, "mp4", video, tone(1600, RATE), *extra, check=False)
    assert proc.returncode == 1 and "INVALID_ARGUMENT" in proc.stderr and needle in proc.stderr, \
        proc.stderr
    assert not out.exists()


def test_mp4_keeps_ovis_5s_track_lengths(tmp_path):
    """Ovi's 720x720_5s shapes (spec §0): 121 frames (5.042 s at 24 fps) and 80384 samples at
    16 kHz (5.024 s); neither track is cut or padded to the other. Small frames keep it fast."""
    audio = tone(80384, RATE).astype(np.float32)
    _, out = cli(tmp_path, "mp4", make_video(121, 32, 32), audio, "--preset", "ultrafast")
    streams, fmt = ffprobe(out)
    v, a = streams["video"], streams["audio"]
    assert int(v["nb_read_frames"]) == 121
    assert float(v["duration"]) == pytest.approx(121 / 24, abs=1e-3)
    # 80384 * 44100 / 16000 = 221558.4: the resampler's count is within a sample of it.
    assert abs(int(a["duration_ts"]) - 80384 * 44100 / RATE) < 1
    assert float(fmt["duration"]) == pytest.approx(121 / 24, abs=0.01)
