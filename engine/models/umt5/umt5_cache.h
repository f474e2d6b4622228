// File: engine/models/umt5/umt5_cache.h
// A bounded LRU of encoder outputs keyed by the prompt's token ids. Prompts repeat across
// requests (the default negative prompts in every request, one prompt at several seeds), and an
// umt5-xxl pass costs ~11 GFLOP per token; a hit costs a map lookup. Entries are whole
// [L, d_model] tensors on the model's device, so the bound is in entries (at most
// capacity * 512 * 4096 * 2 bytes = 4 MB each in bf16). Thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace ovid::umt5 {

struct Umt5CacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  size_t entries = 0;
};

class Umt5EmbeddingCache {
 public:
  explicit Umt5EmbeddingCache(size_t capacity) : capacity_(capacity) {}

  // The cached output for `ids` (now the most recently used), or nullopt. Counts a hit or miss.
  std::optional<at::Tensor> Get(const std::vector<int64_t>& ids);
  // Stores `value` for `ids`, evicting the least recently used entry beyond capacity. A
  // capacity of 0 stores nothing.
  void Put(const std::vector<int64_t>& ids, at::Tensor value);
  Umt5CacheStats Stats() const;
  size_t capacity() const { return capacity_; }

 private:
  using Entry = std::pair<std::vector<int64_t>, at::Tensor>;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // front = most recently used
  std::map<std::vector<int64_t>, std::list<Entry>::iterator> index_;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

}  // namespace ovid::umt5
