// File: engine/ops/shared_tensors.h
// Tensors made on one worker's stream and read by jobs on other streams: a cached text
// encoding, a stage (text encoder, VAE, denoiser) that one job loaded and others share.
//
// Each worker runs on its own non-blocking stream, so nothing orders one stream's kernels after
// another's. Two hazards follow, and these two calls close them:
//  - the producer's kernels may still be queued when another job reads the tensor: the producer
//    waits for its stream before it shares the tensor (WaitForCurrentStream);
//  - the caching allocator recycles a freed block for its own stream's next allocation at once,
//    while a reader on another stream may still have kernels queued that read it: each reader
//    records its stream on the tensor (MarkReadOnCurrentStream), and the allocator then waits
//    for that stream's work before it reuses the block.
// Both are no-ops on the CPU.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "absl/status/status.h"

namespace ovid::ops {

// Waits for the work queued so far on `device`'s current stream (the worker's, under
// SlotBinding). A device error comes back as INTERNAL naming `what`. Also what a clock needs
// before it reads the time at a stage's or a step's end: CUDA lets the host run up to about a
// thousand launches ahead of the device.
absl::Status WaitForCurrentStream(c10::Device device, const char* what);

// Waits for the work queued so far on every stream of `device`: before a shared instance's
// memory is freed, when any job may still have kernels queued that read it.
absl::Status FinishAllStreams(c10::Device device, const char* what);

// Tells the allocator that `t` (a shared tensor) is read by work queued on the current stream of
// its device.
void MarkReadOnCurrentStream(const at::Tensor& t);

}  // namespace ovid::ops
