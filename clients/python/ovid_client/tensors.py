"""numpy <-> the byte layouts of the API: TextEmbedding (bf16) in, LATENTS (safetensors) out."""
import numpy as np
from safetensors.numpy import load as _load_safetensors

from ._stubs import pb


def float_to_bf16_bits(array):
    """float array -> uint16 bfloat16 bit patterns, rounding to nearest even (NaN stays a quiet
    NaN, sign kept). The same integer formula as kernels/fp16.h, so both clients send identical
    bytes for identical input."""
    x = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    rounded = (x + np.uint32(0x7FFF) + ((x >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    nan = (x & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    quiet = (x >> np.uint32(16)) | np.uint32(0x40)
    return np.where(nan, quiet, rounded).astype(np.uint16)


def bf16_bits_to_float(bits):
    """uint16 bfloat16 bit patterns -> float32 (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def text_embedding(array):
    """A TextEmbedding from a [tokens, dim] float array: row-major little-endian bf16."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"text embedding must be [tokens, dim], got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"text embedding must be floating point, got {array.dtype}")
    tokens, dim = array.shape
    data = float_to_bf16_bits(array).astype("<u2").tobytes()
    return pb.TextEmbedding(bf16=data, tokens=tokens, dim=dim)


def embedding_to_array(embedding):
    """TextEmbedding -> float32 [tokens, dim] (for checking what was sent)."""
    bits = np.frombuffer(embedding.bf16, dtype="<u2")
    return bf16_bits_to_float(bits).reshape(embedding.tokens, embedding.dim)


def parse_latents(data):
    """The LATENTS output (safetensors bytes) -> {name: numpy array}: `video_latent`
    [48, F, h, w] and `audio_latent` [L, 20], f32."""
    return _load_safetensors(bytes(data))
