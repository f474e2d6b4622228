"""Python client of the ovid daemon (ovid.v1.Generation): see clients/python/README.md."""
from ._stubs import pb, pb_grpc
from .assembly import OutputAssembler
from .client import GenerateResult, OvidClient
from .errors import OutputIntegrityError, OvidError, status_code
from .request import (EXTENSIONS, JOB_STATES, OUTPUT_FORMATS, SOLVERS, build_request, conditioning,
                      job_state, output_format)
from .tensors import (bf16_bits_to_float, embedding_to_array, float_to_bf16_bits, parse_latents,
                      text_embedding)

__all__ = [
    "EXTENSIONS", "GenerateResult", "JOB_STATES", "OUTPUT_FORMATS", "OutputAssembler", "OutputIntegrityError",
    "OvidClient", "OvidError", "SOLVERS", "bf16_bits_to_float", "build_request", "conditioning",
    "embedding_to_array", "float_to_bf16_bits", "job_state", "output_format", "parse_latents", "pb",
    "pb_grpc", "status_code", "text_embedding",
]
