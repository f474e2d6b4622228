"""A minimal baseline JPEG writer for the decoder tests: any per-component sampling factors.

Pillow (libjpeg-turbo's compressor as Pillow drives it) and ffmpeg's mjpeg encoder write only
4:4:4, 4:2:2 and 4:2:0. A 4:4:0 file is what a lossless rotation of a 4:2:2 photo gives, and a
4:1:1 one what some cameras wrote, so the tests make their own: JFIF YCbCr, one interleaved
sequential scan, 8-bit quantization tables, and Huffman tables of fixed-length codes (every DC
category 4 bits, every AC symbol 8 bits) instead of the optimized ones: larger files, still
valid JPEG (ITU T.81, Annex C's canonical codes). Which decoder upsamples chroma how is what
the tests look at, so the encoder's own choices (box-filtered chroma, the quality) do not
matter as long as every decoder reads the same file.
"""
import struct

import numpy as np

ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63])

# Code lengths: DC categories 0-11 at 4 bits; the 162 AC symbols (EOB, ZRL and run/size pairs
# with sizes 1-10) at 8 bits. Canonical codes of one length are consecutive integers.
DC_SYMBOLS = list(range(12))
AC_SYMBOLS = [0x00, 0xF0] + [(run << 4) | size for run in range(16) for size in range(1, 11)]


def _dct_matrix():
    k = np.arange(8)
    c = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16)
    c[0] *= 1 / np.sqrt(2)
    return c / 2


DCT = _dct_matrix()


def _quant_table(quality, chroma):
    base = 16 + 4 * np.add.outer(np.arange(8), np.arange(8))  # coarser at higher frequencies
    if chroma:
        base = base * 3 // 2
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255).astype(int)


class _Bits:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)  # byte stuffing
                self.acc = self.n = 0

    def flush(self):
        while self.n:
            self.put(1, 1)  # pad with ones
        return bytes(self.out)


def _category(v):
    return int(abs(v)).bit_length()


def _magnitude_bits(v, size):
    return v if v >= 0 else v + (1 << size) - 1


def _rgb_to_ycc(rgb):
    r, g, b = (rgb[..., i].astype(float) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return [np.clip(np.rint(p), 0, 255) for p in (y, cb, cr)]


def _plane(samples, width, height, h, v, hmax, vmax):
    """Component samples: box-averaged down by hmax/h x vmax/v, edge-padded to whole MCUs."""
    fx, fy = hmax // h, vmax // v
    mcu_w, mcu_h = -(-width // (8 * hmax)), -(-height // (8 * vmax))
    padded = np.pad(samples, ((0, mcu_h * 8 * vmax - height), (0, mcu_w * 8 * hmax - width)),
                    mode="edge")
    small = padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx).mean((1, 3))
    return np.rint(small), mcu_w, mcu_h


def _segment(marker, payload):
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def write_jpeg(rgb, sampling, quality=88):
    """RGB uint8 [H, W, 3] -> JPEG bytes. sampling: ((h, v) for Y, Cb, Cr), e.g. 4:4:0 is
    ((1, 2), (1, 1), (1, 1)) and 4:1:1 ((4, 1), (1, 1), (1, 1))."""
    height, width = rgb.shape[:2]
    hmax = max(h for h, _ in sampling)
    vmax = max(v for _, v in sampling)
    quant = [_quant_table(quality, False), _quant_table(quality, True)]
    planes = [_plane(p, width, height, h, v, hmax, vmax)
              for p, (h, v) in zip(_rgb_to_ycc(rgb), sampling)]
    mcu_w, mcu_h = planes[0][1], planes[0][2]

    out = bytearray(b"\xFF\xD8")
    out += _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    for t, q in enumerate(quant):
        out += _segment(0xDB, bytes([t]) + bytes(q.flatten()[ZIGZAG].tolist()))
    sof = struct.pack(">BHHB", 8, height, width, 3)
    for c, (h, v) in enumerate(sampling):
        sof += bytes([c + 1, (h << 4) | v, 0 if c == 0 else 1])
    out += _segment(0xC0, sof)
    tables = {}
    for cls, symbols, length in ((0, DC_SYMBOLS, 4), (1, AC_SYMBOLS, 8)):
        for t in (0, 1):
            bits = [0] * 16
            bits[length - 1] = len(symbols)
            out += _segment(0xC4, bytes([(cls << 4) | t] + bits + symbols))
            tables[(cls, t)] = {s: (i, length) for i, s in enumerate(symbols)}
    out += _segment(0xDA, bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]))

    bits = _Bits()
    prev_dc = [0, 0, 0]
    for my in range(mcu_h):
        for mx in range(mcu_w):
            for c, (h, v) in enumerate(sampling):
                t = 0 if c == 0 else 1
                dc_codes, ac_codes = tables[(0, t)], tables[(1, t)]
                for by in range(v):
                    for bx in range(h):
                        y0, x0 = (my * v + by) * 8, (mx * h + bx) * 8
                        block = planes[c][0][y0:y0 + 8, x0:x0 + 8] - 128
                        coef = np.rint(DCT @ block @ DCT.T / quant[t]).astype(int).flatten()
                        zz = coef[ZIGZAG]
                        diff = int(zz[0]) - prev_dc[c]
                        prev_dc[c] = int(zz[0])
                        size = _category(diff)
                        bits.put(*dc_codes[size])
                        bits.put(_magnitude_bits(diff, size), size)
                        run = 0
                        last = max([i for i in range(1, 64) if zz[i] != 0], default=0)
                        for i in range(1, last + 1):
                            a = int(zz[i])
                            if a == 0:
                                run += 1
                                continue
                            while run > 15:
                                bits.put(*ac_codes[0xF0])
                                run -= 16
                            size = _category(a)
                            bits.put(*ac_codes[(run << 4) | size])
                            bits.put(_magnitude_bits(a, size), size)
                            run = 0
                        if last < 63:
                            bits.put(*ac_codes[0x00])
    out += bits.flush()
    out += b"\xFF\xD9"
    return bytes(out)
