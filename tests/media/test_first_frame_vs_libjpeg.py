"""The I2V first frame's JPEG decode (ovid-media-cli image -> media::DecodeImage) against libjpeg.

Ovi reads the first frame with cv2.imread, i.e. libjpeg(-turbo) with its defaults: the islow
IDCT, "fancy" (triangle-filtered) chroma upsampling and jdcolor's fixed-point YCbCr -> RGB.
Pillow decodes with the same library and the same defaults, so its pixels stand in for cv2's
here. ovid decodes with libavcodec, whose integer IDCT leaves about 2% of samples one level
apart from libjpeg's; everything after the IDCT is libjpeg's arithmetic, so the RGB pixels are
within 3 levels (a Cr/Cb level moves B by up to 1.77) and almost all equal. The ffmpeg CLI's
rgb24 decode, which replicates chroma, is checked to be far off on the same images, so a
replicated-chroma decoder could not pass.
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from baseline_jpeg import write_jpeg

BIN = Path(os.environ.get("OVID_BIN", "build/bin")) / "ovid-media-cli"


def pattern_image(width, height, seed=1):
    """Gradients, a saturated patch, a fine blue checkerboard (chroma edges at every few pixels)
    and noise: what makes chroma upsampling visible."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                    ((x // 7 + y // 5) % 2) * 255], -1)
    img[height // 3:height // 2 + 1, width // 4:width // 2 + 1] = [255, 0, 40]
    img = img + rng.integers(-20, 21, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def ovid_decode(tmp_path, jpg):
    out = tmp_path / "out.rgb"
    proc = subprocess.run([str(BIN), "image", "--image", str(jpg), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    w, h = (int(v) for v in proc.stdout.strip().split("x"))
    return np.frombuffer(out.read_bytes(), np.uint8).reshape(h, w, 3)


def libjpeg_decode(jpg):
    with Image.open(jpg) as im:
        return np.asarray(im.convert("RGB"))


def cli_decode(jpg, width, height):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(jpg), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def check_close(got, want, what):
    assert got.shape == want.shape, what
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 3, f"{what}: max {diff.max()}"
    assert (diff == 0).mean() >= 0.9, f"{what}: only {(diff == 0).mean():.3f} of samples equal"
    assert diff.mean() <= 0.1, f"{what}: mean {diff.mean():.3f}"


# Pillow's subsampling: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0. Odd sides, and sides of 1-3 chroma
# columns (libjpeg replicates below 3).
@pytest.mark.parametrize("width,height", [(160, 120), (161, 97), (33, 17), (5, 9), (3, 4), (1, 7)])
@pytest.mark.parametrize("subsampling", [2, 1, 0])
@pytest.mark.parametrize("progressive", [False, True])
def test_pillow_jpegs_decode_as_libjpeg_does(tmp_path, width, height, subsampling, progressive):
    jpg = tmp_path / "in.jpg"
    Image.fromarray(pattern_image(width, height)).save(jpg, quality=88, subsampling=subsampling,
                                                    progressive=progressive)
    what = f"{width}x{height} subsampling={subsampling} progressive={progressive}"
    check_close(ovid_decode(tmp_path, jpg), libjpeg_decode(jpg), what)


def test_gray_jpegs_decode_as_libjpeg_does(tmp_path):
    jpg = tmp_path / "in.jpg"
    Image.fromarray(pattern_image(61, 40)).convert("L").save(jpg, quality=88)
    got = ovid_decode(tmp_path, jpg)
    assert (got[..., 0] == got[..., 1]).all() and (got[..., 1] == got[..., 2]).all()
    check_close(got, libjpeg_decode(jpg), "gray")


@pytest.mark.parametrize("pix_fmt", ["yuvj420p", "yuvj422p"])
def test_ffmpeg_written_jpegs_decode_as_libjpeg_does(tmp_path, pix_fmt):
    width, height = 97, 61
    src = tmp_path / "src.png"
    Image.fromarray(pattern_image(width, height, seed=4)).save(src)
    jpg = tmp_path / "in.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(src), "-pix_fmt", pix_fmt,
                    "-q:v", "3", "-frames:v", "1", "-update", "1", str(jpg)], check=True)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=pix_fmt", "-of",
                            "csv=p=0", str(jpg)], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == pix_fmt  # the encoder wrote what was asked, not a fallback
    check_close(ovid_decode(tmp_path, jpg), libjpeg_decode(jpg), pix_fmt)


# Subsamplings Pillow and ffmpeg do not write, from baseline_jpeg: 4:4:0 (a losslessly rotated
# 4:2:2 photo: libjpeg filters vertically) and 4:1:1 (libjpeg replicates 4x); 4:2:0 checks the
# writer against the paths above.
SAMPLINGS = {"4:4:0": ((1, 2), (1, 1), (1, 1)), "4:1:1": ((4, 1), (1, 1), (1, 1)),
             "4:2:0": ((2, 2), (1, 1), (1, 1))}


# Narrow sides too (1-2 columns: libjpeg still filters 4:4:0, 4:1:1 has one partial group), but
# with enough samples that the IDCT's ~5% of one-level differences stay under check_close's bounds.
@pytest.mark.parametrize("width,height",
                         [(160, 120), (161, 97), (33, 17), (17, 26), (2, 33), (1, 40)])
@pytest.mark.parametrize("sampling", sorted(SAMPLINGS))
def test_other_subsamplings_decode_as_libjpeg_does(tmp_path, width, height, sampling):
    jpg = tmp_path / "in.jpg"
    jpg.write_bytes(write_jpeg(pattern_image(width, height, seed=7), SAMPLINGS[sampling]))
    with Image.open(jpg) as im:  # the file says what it was written as
        assert [c[1:3] for c in im.layer] == [(h, v) for h, v in SAMPLINGS[sampling]]
    check_close(ovid_decode(tmp_path, jpg), libjpeg_decode(jpg), f"{width}x{height} {sampling}")


def test_other_subsamplings_were_tens_of_levels_off_through_swscale(tmp_path):
    """What ovid did before for 4:4:0, and for 4:1:1 at widths that are not a multiple of 4:
    swscale's replicated chroma (the ffmpeg CLI's decode) against libjpeg's."""
    for sampling, (width, height) in (("4:4:0", (160, 120)), ("4:1:1", (161, 97))):
        jpg = tmp_path / "in.jpg"
        jpg.write_bytes(write_jpeg(pattern_image(width, height, seed=7), SAMPLINGS[sampling]))
        diff = np.abs(cli_decode(jpg, width, height).astype(int) -
                      libjpeg_decode(jpg).astype(int))
        assert diff.max() > 30 and diff.mean() > 1.0, (sampling, diff.max(), diff.mean())


def test_replicated_chroma_would_fail(tmp_path):
    """The images above tell the two upsamplings apart: the ffmpeg CLI's decode of the same
    4:2:0 file is tens of levels off libjpeg's."""
    jpg = tmp_path / "in.jpg"
    Image.fromarray(pattern_image(160, 120)).save(jpg, quality=88, subsampling=2)
    diff = np.abs(cli_decode(jpg, 160, 120).astype(int) - libjpeg_decode(jpg).astype(int))
    assert diff.max() > 30 and diff.mean() > 1.0, (diff.max(), diff.mean())
