// File: engine/models/umt5/umt5_cache.cc
#include "engine/models/umt5/umt5_cache.h"

namespace ovid::umt5 {

std::optional<at::Tensor> Umt5EmbeddingCache::Get(const std::vector<int64_t>& ids) {
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(ids);
  if (it == index_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void Umt5EmbeddingCache::Put(const std::vector<int64_t>& ids, at::Tensor value) {
  if (capacity_ == 0) return;
  const std::lock_guard<std::mutex> lock(mu_);
  if (auto it = index_.find(ids); it != index_.end()) {
    it->second->second = std::move(value);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(ids, std::move(value));
  index_.emplace(ids, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

Umt5CacheStats Umt5EmbeddingCache::Stats() const {
  const std::lock_guard<std::mutex> lock(mu_);
  return {hits_, misses_, lru_.size()};
}

}  // namespace ovid::umt5
