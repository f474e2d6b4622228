"""A numpy port of ggml's reference quantizers (quantize_row_*_ref, no importance matrix).

Written for ovid's tests from the algorithm description (shared spec ggml.md §4.3 and ggml's
ggml-quants.c as read, not copied). Everything is float32 and every sum runs sequentially in
element order, vectorised only across (sub-)blocks: that is what makes the bytes match ggml's,
because the least-squares searches compare near-equal fp32 quantities.

Entry point: quantize(x, type_name) -> uint8 array [n_blocks, type_size].
"""

import numpy as np

F32 = np.float32
GROUP_MAX_EPS = F32(1e-15)

TYPE_GEOMETRY = {  # name: (block size, type size)
    "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24), "q8_0": (32, 34),
    "q2_K": (256, 84), "q3_K": (256, 110), "q4_K": (256, 144), "q5_K": (256, 176),
    "q6_K": (256, 210),
}


def nearest_int(f):
    """Round half to even through the fp32 adder (ggml's nearest_int), elementwise."""
    biased = (np.asarray(f, dtype=F32) + F32(12582912.0)).astype(F32)
    return (biased.view(np.int32) & 0x7FFFFF) - 0x400000


def f16_bits(v):
    return np.asarray(v, dtype=F32).astype(np.float16).view(np.uint16)


def f16_value(bits):
    return bits.view(np.float16).astype(F32)


def seq_sum(terms):
    """Sum over the last axis strictly left to right (numpy's sum is pairwise)."""
    acc = np.zeros(terms.shape[:-1], dtype=F32)
    for i in range(terms.shape[-1]):
        acc = acc + terms[..., i]
    return acc


def signed_abs_max(x):
    """(value of the first largest |x|, that |x|) per row; 0 when every x is 0."""
    ax = np.abs(x)
    idx = np.argmax(ax, axis=-1)
    amax = np.take_along_axis(ax, idx[..., None], -1)[..., 0]
    mx = np.take_along_axis(x, idx[..., None], -1)[..., 0]
    return np.where(amax > 0, mx, F32(0)).astype(F32), amax.astype(F32)


def make_qkx2_quants(x, w, nmax, rmin, rdelta, nstep, use_mad):
    """Asymmetric fit x ~ scale*L - min per row of x [m, n]; returns (L, scale, the_min)."""
    n = x.shape[1]
    mn = x[:, 0].copy()
    mx = x[:, 0].copy()
    sum_w = w[:, 0].copy()
    sum_x = (sum_w * x[:, 0]).astype(F32)
    for i in range(1, n):
        mn = np.where(x[:, i] < mn, x[:, i], mn)
        mx = np.where(x[:, i] > mx, x[:, i], mx)
        sum_w = sum_w + w[:, i]
        sum_x = sum_x + w[:, i] * x[:, i]
    mn = np.where(mn > 0, F32(0), mn).astype(F32)
    flat = mx == mn
    fnmax = F32(nmax)

    def err(scale, L, m):
        diff = scale[:, None] * L.astype(F32) + m[:, None] - x
        diff = np.abs(diff) if use_mad else diff * diff
        return seq_sum(w * diff)

    iscale = fnmax / (mx - mn)
    scale = F32(1) / iscale
    L = np.clip(nearest_int(iscale[:, None] * (x - mn[:, None])), 0, nmax)
    best = err(scale, L, mn)
    for step in range(nstep + 1):
        iscale = (F32(rmin) + F32(rdelta) * F32(step) + fnmax) / (mx - mn)
        laux = np.clip(nearest_int(iscale[:, None] * (x - mn[:, None])), 0, nmax)
        lf = laux.astype(F32)
        sum_l = seq_sum(w * lf)
        sum_l2 = seq_sum(w * lf * lf)
        sum_xl = seq_sum(w * lf * x)
        det = sum_w * sum_l2 - sum_l * sum_l
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / det
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det
        positive = this_min > 0
        this_scale = np.where(positive, sum_xl / sum_l2, this_scale).astype(F32)
        this_min = np.where(positive, F32(0), this_min).astype(F32)
        cur = err(this_scale, laux, this_min)
        take = (det > 0) & (cur < best)
        L = np.where(take[:, None], laux, L)
        best = np.where(take, cur, best)
        scale = np.where(take, this_scale, scale).astype(F32)
        mn = np.where(take, this_min, mn).astype(F32)
    L = np.where(flat[:, None], 0, L)
    scale = np.where(flat, F32(0), scale).astype(F32)
    return L, scale, (-mn).astype(F32)


def make_q3_quants(x, nmax):
    """Symmetric fit with coordinate descent (Q3_K); returns (L + nmax, scale)."""
    mx, amax = signed_abs_max(x)
    zero = amax < GROUP_MAX_EPS
    iscale = -F32(nmax) / mx
    L = np.clip(nearest_int(iscale[:, None] * x), -nmax, nmax - 1)
    w = x * x
    lf = L.astype(F32)
    sumlx = seq_sum(w * x * lf)
    suml2 = seq_sum(w * lf * lf)
    # ggml stops after a pass without changes; a pass over an unchanged state changes nothing
    # again, so always running five passes gives the same result.
    for _ in range(5):
        for i in range(x.shape[1]):
            wi, xi, li = w[:, i], x[:, i], L[:, i].astype(F32)
            slx = sumlx - wi * xi * li
            sl2 = suml2 - wi * li * li
            new_l = np.clip(nearest_int(xi * sl2 / slx), -nmax, nmax - 1)
            nf = new_l.astype(F32)
            slx2 = slx + wi * xi * nf
            sl22 = sl2 + wi * nf * nf
            take = ((slx > 0) & (new_l != L[:, i]) & (sl22 > 0)
                    & (slx2 * slx2 * suml2 > sumlx * sumlx * sl22))
            L[:, i] = np.where(take, new_l, L[:, i])
            sumlx = np.where(take, slx2, sumlx).astype(F32)
            suml2 = np.where(take, sl22, suml2).astype(F32)
    scale = np.where(suml2 > 0, sumlx / suml2, F32(0)).astype(F32)
    L = np.where(zero[:, None], 0, L + nmax)
    return L, np.where(zero, F32(0), scale).astype(F32)


def make_qx_quants_rmse1(x, nmax):
    """Symmetric fit, weights x^2, best of 19 trial scales (Q6_K); returns (L + nmax, scale)."""
    mx, amax = signed_abs_max(x)
    zero = amax < GROUP_MAX_EPS
    w = x * x
    fnmax = F32(nmax)

    def trial(iscale):
        l = np.clip(nearest_int(iscale[:, None] * x), -nmax, nmax - 1)
        lf = l.astype(F32)
        return l, seq_sum(w * x * lf), seq_sum(w * lf * lf)

    l, sumlx, suml2 = trial(-fnmax / mx)
    L = l + nmax
    scale = np.where(suml2 != 0, sumlx / suml2, F32(0)).astype(F32)
    best = (scale * sumlx).astype(F32)
    for step in range(-9, 10):
        if step == 0:
            continue
        l, sumlx, suml2 = trial(-(fnmax + F32(0.1) * F32(step)) / mx)
        take = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        L = np.where(take[:, None], l + nmax, L)
        scale = np.where(take, sumlx / suml2, scale).astype(F32)
        best = np.where(take, scale * sumlx, best).astype(F32)
    L = np.where(zero[:, None], 0, L)
    return L, np.where(zero, F32(0), scale).astype(F32)


def pack_2bit(L):
    """[nb, 256] codes 0..3 -> [nb, 64]: byte 32h+l holds element 128h+32g+l at bits 2g."""
    L = L.reshape(-1, 2, 4, 32).astype(np.uint8)
    q = L[:, :, 0] | (L[:, :, 1] << 2) | (L[:, :, 2] << 4) | (L[:, :, 3] << 6)
    return q.reshape(-1, 64)


def trunc_to_int(v):
    return np.trunc(v).astype(np.int64)


def quantize_legacy(x, name):
    x = x.reshape(-1, 32)
    nb = x.shape[0]
    mx, _ = signed_abs_max(x)
    mn = x.min(axis=1)
    top = x.max(axis=1)
    if name in ("q4_0", "q5_0"):
        d = (mx / F32(-8 if name == "q4_0" else -16)).astype(F32)
    elif name in ("q4_1", "q5_1"):
        d = ((top - mn) / F32(15 if name == "q4_1" else 31)).astype(F32)
    else:
        d = (np.abs(x).max(axis=1) / F32(127)).astype(F32)
    idv = np.where(d != 0, F32(1) / np.where(d != 0, d, F32(1)), F32(0)).astype(F32)
    head = [f16_bits(d).view(np.uint8).reshape(nb, 2)]
    if name == "q8_0":
        v = x * idv[:, None]
        q = (np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)).astype(np.int8)
        return np.concatenate(head + [q.view(np.uint8)], axis=1)
    if name in ("q4_1", "q5_1"):
        head.append(f16_bits(mn).view(np.uint8).reshape(nb, 2))
        v = (x - mn[:, None]) * idv[:, None] + F32(0.5)
    else:
        v = x * idv[:, None] + F32(8.5 if name == "q4_0" else 16.5)
    q = trunc_to_int(v.astype(F32)).astype(np.int8).astype(np.int64)
    if name != "q5_1":
        q = np.minimum(15 if name in ("q4_0", "q4_1") else 31, q)
    q = q.astype(np.uint8)
    lo, hi = q[:, :16], q[:, 16:]
    qs = (lo & 0xF) | ((hi & 0xF) << 4)
    if name in ("q4_0", "q4_1"):
        return np.concatenate(head + [qs], axis=1)
    bits = (q >> 4).astype(np.uint32) & 1
    qh = (bits << np.arange(32, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)
    return np.concatenate(head + [qh.astype("<u4").view(np.uint8).reshape(nb, 4), qs], axis=1)


def quantize_q2_k(x):
    x = x.reshape(-1, 256)
    nb = x.shape[0]
    sub = x.reshape(-1, 16)
    L, scales, mins = make_qkx2_quants(sub, np.abs(sub), 3, -0.5, 0.1, 15, True)
    L = L.reshape(nb, 16, 16)
    scales, mins = scales.reshape(nb, 16), mins.reshape(nb, 16)
    max_scale = np.maximum(scales.max(axis=1), F32(0))
    max_min = np.maximum(mins.max(axis=1), F32(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ls = nearest_int((F32(15) / max_scale)[:, None] * scales)
        lm = nearest_int((F32(15) / max_min)[:, None] * mins)
    sc = np.where((max_scale > 0)[:, None], ls & 0xFF, 0)
    sc = sc | np.where((max_min > 0)[:, None], (lm << 4) & 0xFF, 0)
    sc = sc.astype(np.uint8)
    d = np.where(max_scale > 0, f16_bits(max_scale / F32(15)), f16_bits(F32(0)))
    dmin = np.where(max_min > 0, f16_bits(max_min / F32(15)), f16_bits(F32(0)))
    dl = f16_value(d)[:, None] * (sc & 0xF).astype(F32)
    dm = f16_value(dmin)[:, None] * (sc >> 4).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        req = np.clip(nearest_int((x.reshape(nb, 16, 16) + dm[..., None]) / dl[..., None]), 0, 3)
    L = np.where((dl != 0)[..., None], req, L).reshape(nb, 256)
    return np.concatenate([sc, pack_2bit(L), d.view(np.uint8).reshape(nb, 2),
                           dmin.view(np.uint8).reshape(nb, 2)], axis=1)


def quantize_q3_k(x):
    x = x.reshape(-1, 256)
    nb = x.shape[0]
    L, scales = make_q3_quants(x.reshape(-1, 16), 4)
    L, scales = L.reshape(nb, 16, 16), scales.reshape(nb, 16)
    max_scale, _ = signed_abs_max(scales)
    has = max_scale != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = (F32(-32) / max_scale).astype(F32)
        l = np.clip(nearest_int(iscale[:, None] * scales), -32, 31) + 32
    l = np.where(has[:, None], l, 0)
    packed = np.zeros((nb, 12), dtype=np.int64)
    for j in range(16):
        if j < 8:
            packed[:, j] |= l[:, j] & 0xF
        else:
            packed[:, j - 8] |= (l[:, j] & 0xF) << 4
        packed[:, 8 + j % 4] |= (l[:, j] >> 4) << (2 * (j // 4))
    packed = np.where(has[:, None], packed, 0).astype(np.uint8)
    with np.errstate(divide="ignore"):
        d = np.where(has, f16_bits(F32(1) / iscale), f16_bits(F32(0)))
    sc = np.stack([((packed[:, j] & 0xF) if j < 8 else (packed[:, j - 8] >> 4)).astype(np.int64)
                   | (((packed[:, 8 + j % 4] >> (2 * (j // 4))) & 3).astype(np.int64) << 4)
                   for j in range(16)], axis=1) - 32
    dl = f16_value(d)[:, None] * sc.astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        req = np.clip(nearest_int(x.reshape(nb, 16, 16) / dl[..., None]), -4, 3) + 4
    L = np.where((dl != 0)[..., None], req, L).reshape(nb, 256)
    high = L > 3
    L = np.where(high, L - 4, L)
    bit = np.arange(8, dtype=np.uint8)[None, :, None]
    hmask = high.reshape(nb, 8, 32).astype(np.uint8) << bit  # element j: hmask[j%32] bit j//32
    hmask = np.bitwise_or.reduce(hmask, axis=1).astype(np.uint8)
    return np.concatenate([hmask, pack_2bit(L), packed, d.view(np.uint8).reshape(nb, 2)], axis=1)


def quantize_q4_q5_k(x, nmax, rmin, nstep):
    x = x.reshape(-1, 256)
    nb = x.shape[0]
    sub = x.reshape(-1, 32)
    av_x = np.sqrt(seq_sum(sub * sub) / F32(32)).astype(F32)
    w = (av_x[:, None] + np.abs(sub)).astype(F32)
    L, scales, mins = make_qkx2_quants(sub, w, nmax, rmin, 0.1, nstep, False)
    L, scales, mins = L.reshape(nb, 8, 32), scales.reshape(nb, 8), mins.reshape(nb, 8)
    max_scale = np.maximum(scales.max(axis=1), F32(0))
    max_min = np.maximum(mins.max(axis=1), F32(0))
    with np.errstate(divide="ignore"):
        inv_scale = np.where(max_scale > 0, F32(63) / max_scale, F32(0)).astype(F32)
        inv_min = np.where(max_min > 0, F32(63) / max_min, F32(0)).astype(F32)
    ls = np.minimum(63, nearest_int(inv_scale[:, None] * scales) & 0xFF)
    lm = np.minimum(63, nearest_int(inv_min[:, None] * mins) & 0xFF)
    s = np.zeros((nb, 12), dtype=np.int64)
    s[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    s[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    s[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    d = f16_bits(max_scale / F32(63))
    dmin = f16_bits(max_min / F32(63))
    dl = f16_value(d)[:, None] * ls.astype(F32)
    dm = f16_value(dmin)[:, None] * lm.astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        req = np.clip(nearest_int((x.reshape(nb, 8, 32) + dm[..., None]) / dl[..., None]), 0, nmax)
    L = np.where((dl != 0)[..., None], req, L).reshape(nb, 4, 2, 32)
    head = [d.view(np.uint8).reshape(nb, 2), dmin.view(np.uint8).reshape(nb, 2),
            s.astype(np.uint8)]
    qs = ((L[:, :, 0] & 0xF) | ((L[:, :, 1] & 0xF) << 4)).astype(np.uint8).reshape(nb, 128)
    if nmax == 15:
        return np.concatenate(head + [qs], axis=1)
    hbits = (L >> 4).astype(np.uint8)  # [nb, c, half, l] -> qh[l] bit 2c+half
    shifts = (2 * np.arange(4)[:, None] + np.arange(2)[None, :]).astype(np.uint8)
    qh = np.bitwise_or.reduce((hbits << shifts[None, :, :, None]).reshape(nb, 8, 32), axis=1)
    return np.concatenate(head + [qh.astype(np.uint8), qs], axis=1)


def quantize_q6_k(x):
    x = x.reshape(-1, 256)
    nb = x.shape[0]
    L, scales = make_qx_quants_rmse1(x.reshape(-1, 16), 32)
    L, scales = L.reshape(nb, 16, 16), scales.reshape(nb, 16)
    max_scale, max_abs = signed_abs_max(scales)
    zero = max_abs < GROUP_MAX_EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = (F32(-128) / max_scale).astype(F32)
        d = f16_bits(F32(1) / iscale)
        sc = np.minimum(127, nearest_int(iscale[:, None] * scales)).astype(np.int8)
        dl = f16_value(d)[:, None] * sc.astype(F32)
        req = np.clip(nearest_int(x.reshape(nb, 16, 16) / dl[..., None]), -32, 31) + 32
    L = np.where((dl != 0)[..., None], req, L).reshape(nb, 2, 4, 32).astype(np.uint8)
    ql = np.concatenate([(L[:, :, 0] & 0xF) | ((L[:, :, 2] & 0xF) << 4),
                         (L[:, :, 1] & 0xF) | ((L[:, :, 3] & 0xF) << 4)], axis=2)  # [nb, 2, 64]
    qh = ((L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4)
          | ((L[:, :, 3] >> 4) << 6))
    out = np.concatenate([ql.reshape(nb, 128), qh.reshape(nb, 64), sc.view(np.uint8),
                          d.view(np.uint8).reshape(nb, 2)], axis=1)
    out[zero] = 0
    return out


def quantize(x, name):
    """float32 values (length a multiple of the block size) -> uint8 [n_blocks, type_size]."""
    x = np.ascontiguousarray(x, dtype=F32).reshape(-1)
    with np.errstate(all="ignore"):
        if name in ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0"):
            return quantize_legacy(x, name)
        if name == "q2_K":
            return quantize_q2_k(x)
        if name == "q3_K":
            return quantize_q3_k(x)
        if name == "q4_K":
            return quantize_q4_q5_k(x, 15, -1.0, 20)
        if name == "q5_K":
            return quantize_q4_q5_k(x, 31, -0.5, 15)
        if name == "q6_K":
            return quantize_q6_k(x)
    raise ValueError(f"ggml_ref_quants: no reference quantizer for type {name!r}")
