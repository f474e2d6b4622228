"""GenerateRequest from Python values: enum names as short strings, conditioning as a prompt,
a numpy array or a ready TextEmbedding."""
import numpy as np

from ._stubs import pb
from .tensors import text_embedding

SOLVERS = {"unipc": pb.SOLVER_UNIPC, "euler": pb.SOLVER_EULER, "dpmpp": pb.SOLVER_DPMPP}
OUTPUT_FORMATS = {"latents": pb.OUTPUT_FORMAT_LATENTS, "mp4": pb.OUTPUT_FORMAT_MP4,
                  "wav": pb.OUTPUT_FORMAT_WAV, "png_frames": pb.OUTPUT_FORMAT_PNG_FRAMES}
# File extension per output format, shared with ovidctl's naming (<job_id>.<ext>).
EXTENSIONS = {pb.OUTPUT_FORMAT_LATENTS: "safetensors", pb.OUTPUT_FORMAT_MP4: "mp4",
              pb.OUTPUT_FORMAT_WAV: "wav", pb.OUTPUT_FORMAT_PNG_FRAMES: "tar"}

# Plain optional scalars: set only when given, so the server applies its own defaults otherwise.
_SCALARS = ("width", "height", "duration_seconds", "steps", "shift", "video_guidance",
            "audio_guidance", "slg_layer", "seed", "priority", "max_queue_seconds")


def _enum(value, names, what):
    if isinstance(value, str):
        try:
            return names[value.lower()]
        except KeyError:
            raise ValueError(f"unknown {what} {value!r}; one of {', '.join(names)}") from None
    return int(value)


def output_format(value):
    """'mp4' / 'latents' / ... or an OutputFormat number -> the number."""
    return _enum(value, OUTPUT_FORMATS, "output format")


def conditioning(value):
    """A prompt (str), a [tokens, dim] float array, or a TextEmbedding -> Conditioning."""
    if isinstance(value, pb.Conditioning):
        return value
    if isinstance(value, str):
        return pb.Conditioning(prompt=value)
    if isinstance(value, pb.TextEmbedding):
        return pb.Conditioning(embedding=value)
    if isinstance(value, np.ndarray):
        return pb.Conditioning(embedding=text_embedding(value))
    raise TypeError(f"conditioning must be a str, numpy array or TextEmbedding, got "
                    f"{type(value).__name__}")


def build_request(prompt=None, embedding=None, video_negative=None, audio_negative=None,
                  solver=None, outputs=(), first_frame=b"", client_request_id="",
                  keep_on_disconnect=False, **scalars):
    """A GenerateRequest. Exactly one of `prompt` and `embedding` gives the positive
    conditioning; the rest mirror the proto's fields (solver and outputs also by name)."""
    unknown = set(scalars) - set(_SCALARS)
    if unknown:
        raise TypeError(f"unknown GenerateRequest field(s): {', '.join(sorted(unknown))}")
    if (prompt is None) == (embedding is None):
        raise ValueError("give exactly one of prompt= and embedding=")
    req = pb.GenerateRequest(conditioning=conditioning(prompt if prompt is not None else embedding))
    if video_negative is not None:
        req.video_negative.CopyFrom(conditioning(video_negative))
    if audio_negative is not None:
        req.audio_negative.CopyFrom(conditioning(audio_negative))
    for name, value in scalars.items():
        if value is not None:
            setattr(req, name, value)
    if solver is not None:
        req.solver = _enum(solver, SOLVERS, "solver")
    if isinstance(outputs, (str, int)):  # one format: "mp4" is not the formats "m", "p", "4"
        outputs = [outputs]
    req.outputs.extend(output_format(f) for f in outputs)
    req.first_frame = bytes(first_frame)
    req.client_request_id = client_request_id
    req.keep_on_disconnect = keep_on_disconnect
    return req
