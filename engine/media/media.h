// File: engine/media/media.h
// The output stage in one include: decoder outputs (plain float buffers) in, file bytes out.
//   EncodeMp4        H.264 yuv420p + AAC, faststart MP4      (mp4_encoder.h, mp4_options.h)
//   EncodeWav        16-bit PCM mono WAV                      (wav_writer.h)
//   EncodePngFrames  a ustar archive of frame_NNNNN.png       (png_frames.h)
// Inputs and their checks: media_input.h; the float -> integer conversion: sample_convert.h.
#pragma once

#include "engine/media/media_input.h"
#include "engine/media/mp4_encoder.h"
#include "engine/media/mp4_options.h"
#include "engine/media/png_frames.h"
#include "engine/media/sample_convert.h"
#include "engine/media/wav_writer.h"
