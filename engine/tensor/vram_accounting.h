// File: engine/tensor/vram_accounting.h
// What the weights cost on the device, for the load log line, GetModel and the metrics.
// Torch-free, so the server can hold one. Byte figures are exact tensor sizes (what the
// tensors hold, not the caching allocator's rounding; that shows in the allocator figures).
// MB and GB in the summary are decimal (1e6, 1e9 bytes).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace ovid {

// LibTorch's CUDA caching allocator (c10::cuda::CUDACachingAllocator) for one device.
struct AllocatorStats {
  bool valid = false;          // false on the CPU or without CUDA
  int64_t allocated = 0;       // bytes in live tensors
  int64_t reserved = 0;        // bytes the allocator holds from the driver
  int64_t peak_allocated = 0;  // high-water mark of `allocated` since the last reset
};

// Current figures for CUDA device `device_index` (valid=false if there is none).
AllocatorStats QueryAllocatorStats(int device_index);

struct VramAccounting {
  std::string device;     // "cuda:0", "cpu"
  std::string mode;       // LinearMode name
  int64_t tensors = 0;    // tensors in the file
  int64_t quantized = 0;  // tensors resident as raw GGUF blocks
  // Resident weight bytes by storage type: ggml names for raw blocks ("q4_K"), torch-ish names
  // for dense tensors ("bf16", "f32").
  std::map<std::string, int64_t> bytes_by_type;
  int64_t weight_bytes = 0;  // sum of bytes_by_type
  int64_t arena_bytes = 0;   // the one allocation holding all raw blocks (256-byte aligned each)
  int64_t bf16_equivalent_bytes = 0;  // every tensor at 2 bytes per element
  int64_t workspace_bytes = 0;        // live DequantWorkspaces
  int64_t workspaces = 0;
  int64_t cache_bytes = 0;  // dense copies kept by LinearMode::kCache
  int64_t cached_layers = 0;
  // The cache planner's estimate of what the copies save per denoising step (CachePlan).
  double cache_saved_seconds_per_step = 0;
  int64_t largest_layer_elements = 0;  // what one workspace must hold
  AllocatorStats allocator;
  double load_seconds = 0;      // the whole load, the dispatch measurement included
  double dispatch_seconds = 0;  // of which timing the fused dispatch (0: not measured)
  int64_t uploaded_bytes = 0;
  double upload_gbps = 0;  // uploaded_bytes / load time, GB/s

  // One line, e.g. "quantized 720/2073 tensors; weights 7234.2 MB resident vs 22156.8 MB bf16
  // (67.3% saved); workspace 88.1 MB; cache 0.0 MB (0 layers); ..."
  std::string Summary() const;
  // bytes_by_type as "q4_K 5012.3 MB, bf16 40.1 MB, ...".
  std::string ByTypeLine() const;
};

}  // namespace ovid
