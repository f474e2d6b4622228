// File: engine/pipeline/on_demand.h
// One loaded stage (text encoder, VAE, vocoder), either resident for the process's life or
// "offloaded": built from its file when a job asks for it and freed when the last job holding it
// lets go, so its device memory is free between uses. Jobs share one instance while it is loaded;
// an offloaded stage is rebuilt by whichever job asks first after it was freed.
//
// Sharing across worker streams (engine/ops/shared_tensors.h): a fresh instance is complete on
// its loader's stream before anyone gets it, and an offloaded one waits for every stream of the
// device before its memory goes back to the allocator, since a job that let go of it may still
// have kernels queued that read it, and the allocator would hand the blocks to the loader's
// stream at once.
//
// The files are memory-mapped and stay in the page cache, so a rebuild costs the upload to the
// device (about a second for a few GB), not a disk read.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <c10/core/Device.h>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/status_macros.h"
#include "engine/ops/shared_tensors.h"

namespace ovid::pipeline {

// A load error about `path` that starts with it (once: messages that already name it stay).
inline absl::Status InFile(const absl::Status& s, const std::string& path) {
  if (s.ok() || absl::StrContains(s.message(), path)) return s;
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

template <class T>
class OnDemand {
 public:
  using Loader = std::function<absl::StatusOr<std::unique_ptr<T>>()>;

  // Before any Acquire: how to build the instance on `device`, and whether to free it between
  // uses.
  void Configure(Loader loader, bool offload, c10::Device device) {
    std::lock_guard<std::mutex> lock(mu_);
    loader_ = std::move(loader);
    offload_ = offload;
    device_ = device;
  }

  // The same for an instance read from one file: load(path), its errors named by InFile.
  template <class Load>
  void ConfigureFile(const std::string& path, Load load, bool offload, c10::Device device) {
    Configure(
        [path, load]() -> absl::StatusOr<std::unique_ptr<T>> {
          absl::StatusOr<std::unique_ptr<T>> built = load(path);
          if (!built.ok()) return InFile(built.status(), path);
          return built;
        },
        offload, device);
  }

  bool configured() const { return static_cast<bool>(loader_); }
  bool offloaded() const { return offload_; }

  // The instance, loading it if needed. Holding the pointer keeps it loaded.
  absl::StatusOr<std::shared_ptr<T>> Acquire() {
    if (std::shared_ptr<T> live = Peek()) return live;
    // One load at a time, under its own lock: a load takes seconds (an offloaded denoiser's
    // upload), and Peek (the metrics scrape, GetModel) must not wait for it.
    std::lock_guard<std::mutex> load_lock(load_mu_);
    if (std::shared_ptr<T> live = Peek()) return live;  // loaded while this call waited
    absl::StatusOr<std::unique_ptr<T>> built = loader_();
    if (!built.ok()) return ReloadError(built.status());
    loaded_once_ = true;
    OVID_RETURN_IF_ERROR(ops::WaitForCurrentStream(device_, "loading a stage"));
    std::lock_guard<std::mutex> lock(mu_);
    if (!offload_) {
      resident_ = std::shared_ptr<T>(std::move(*built));
      return resident_;
    }
    const c10::Device device = device_;
    std::shared_ptr<Observed> observed = observed_;
    std::shared_ptr<T> instance(built->release(), [device, observed](T* freed) {
      {
        // An Inspect running on it finishes first; later ones no longer see it (a newer
        // instance may already be the observed one).
        std::lock_guard<std::mutex> inspect_lock(observed->mu);
        if (observed->instance == freed) observed->instance = nullptr;
      }
      // A failure here is a sticky device error, reported by the next job's own wait.
      ops::FinishAllStreams(device, "freeing an offloaded stage").IgnoreError();
      delete freed;
    });
    shared_ = instance;
    std::lock_guard<std::mutex> inspect_lock(observed_->mu);
    observed_->instance = instance.get();
    return instance;
  }

  // A failed load of a stage that loaded before (an offloaded one, rebuilt per job) is the
  // server's problem, not the request's: its file changed or went away since startup. Its code
  // becomes INTERNAL (a client's INVALID_ARGUMENT or NOT_FOUND would blame the request); an
  // out-of-memory during the upload stays RESOURCE_EXHAUSTED. The first load keeps its code.
  absl::Status ReloadError(const absl::Status& s) const {
    if (!loaded_once_ || s.code() == absl::StatusCode::kResourceExhausted) return s;
    return absl::InternalError(absl::StrCat(
        "reloading an offloaded stage failed (its file changed since startup?): ", s.message()));
  }

  // The resident instance without loading (null when offloaded and not in use, or while it is
  // being loaded). The caller becomes one of its holders: for jobs (Acquire's fast path), not
  // for observers, which use Inspect.
  std::shared_ptr<T> Peek() const {
    std::lock_guard<std::mutex> lock(mu_);
    return resident_ ? resident_ : shared_.lock();
  }

  // Calls look(const T&) on the loaded instance, if any, without holding it: returns whether it
  // did. For observers (the metrics scrape, GetModel), which must never be an offloaded stage's
  // last holder: that holder frees it, waiting on every stream of the device (other jobs'
  // kernels included) on the observer's thread. `look` runs under a lock that the instance's
  // release waits for, so keep it short; it must not call back into this OnDemand.
  template <class Look>
  bool Inspect(Look&& look) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (resident_) {
      look(static_cast<const T&>(*resident_));
      return true;
    }
    std::lock_guard<std::mutex> inspect_lock(observed_->mu);
    if (observed_->instance == nullptr) return false;
    look(static_cast<const T&>(*observed_->instance));
    return true;
  }

 private:
  Loader loader_;
  bool offload_ = false;
  c10::Device device_ = c10::Device(c10::kCPU);
  std::mutex load_mu_;     // held for a whole load
  bool loaded_once_ = false;  // guarded by load_mu_
  mutable std::mutex mu_;  // held only to read or set the pointers below
  std::shared_ptr<T> resident_;
  std::weak_ptr<T> shared_;
  // The offloaded instance that Inspect may read: set when it is built, cleared by its release
  // under `mu` before it is freed. Shared with the release, which may run after this OnDemand
  // is gone.
  struct Observed {
    std::mutex mu;
    T* instance = nullptr;
  };
  std::shared_ptr<Observed> observed_ = std::make_shared<Observed>();
};

}  // namespace ovid::pipeline
