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


# Job states by short name ("running"), for list_jobs; full names ("JOB_STATE_RUNNING") also
# work, any case.
JOB_STATES = {name.lower().removeprefix("job_state_"): number
              for name, number in pb.JobState.items() if number != pb.JOB_STATE_UNSPECIFIED}


def _enum(value, names, what, prefix=""):
    if isinstance(value, str):
        key = value.lower()
        try:
            return names[key.removeprefix(prefix) if prefix else key]
        except KeyError:
            raise ValueError(f"unknown {what} {value!r}; one of {', '.join(names)}") from None
    return int(value)


def job_state(value):
    """'running' / 'JOB_STATE_RUNNING' / a JobState number -> the number."""
    return _enum(value, JOB_STATES, "job state", "job_state_")


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
                  solver=None, outputs=None, first_frame=None, client_request_id=None,
                  keep_on_disconnect=None, **scalars):
    """A GenerateRequest. Exactly one of `prompt` and `embedding` gives the positive
    conditioning; the rest mirror the proto's fields (solver and outputs also by name). None
    leaves any field out (the server's default), so optional values pass straight through.
    A value a field cannot hold raises ValueError or TypeError naming the field."""
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
            try:
                setattr(req, name, value)
            except (ValueError, TypeError) as e:  # protobuf's own say "Value out of range: -1"
                raise type(e)(f"{name}: {e} (got {value!r})") from None
    if solver is not None:
        req.solver = _enum(solver, SOLVERS, "solver")
    if isinstance(outputs, (str, int)):  # one format: "mp4" is not the formats "m", "p", "4"
        outputs = [outputs]
    req.outputs.extend(output_format(f) for f in outputs or ())
    if first_frame is not None:
        req.first_frame = bytes(first_frame)
    if client_request_id is not None:
        req.client_request_id = client_request_id
    if keep_on_disconnect is not None:
        req.keep_on_disconnect = bool(keep_on_disconnect)
    return req
