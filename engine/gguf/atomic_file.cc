// File: engine/gguf/atomic_file.cc
#include "engine/gguf/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovid::gguf {
namespace {

absl::Status IoError(const std::string& path, const char* what, int err) {
  return absl::UnavailableError(absl::StrCat(path, ": ", what, " failed: ", std::strerror(err)));
}

// The temporary paths of the open AtomicFiles, for RemovePendingTempFiles (a signal handler may
// read them at any moment: lock-free slots). More open at once than slots only means the extra
// ones are not cleaned up on a signal.
constexpr int kPendingSlots = 64;
std::atomic<const char*> g_pending[kPendingSlots];

void Register(const char* temp) {
  for (std::atomic<const char*>& slot : g_pending) {
    const char* empty = nullptr;
    if (slot.compare_exchange_strong(empty, temp)) return;
  }
}

void Unregister(const char* temp) {
  for (std::atomic<const char*>& slot : g_pending) {
    const char* mine = temp;
    if (slot.compare_exchange_strong(mine, nullptr)) return;
  }
}

// Ctrl-C or a kill during a write: remove the partial outputs, then die of the signal as before.
void OnTerminatingSignal(int sig) {
  RemovePendingTempFiles();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

void RemoveTempFilesOnSignals() {
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    if (std::signal(sig, OnTerminatingSignal) == SIG_IGN) std::signal(sig, SIG_IGN);
  }
}

void RemovePendingTempFiles() {
  for (std::atomic<const char*>& slot : g_pending) {
    if (const char* temp = slot.load()) ::unlink(temp);
  }
}

absl::StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Create(const std::string& path) {
  // The pid tells processes apart, the counter threads of one process; O_EXCL makes sure no
  // other writer's file is ever opened (and truncated) under it.
  static std::atomic<uint64_t> counter{0};
  std::unique_ptr<AtomicFile> file(
      new AtomicFile(path, absl::StrCat(path, ".tmp.", ::getpid(), ".", counter++), nullptr));
  const std::string& temp = file->temp_;
  // Registered before the file exists: registered after the open, a signal in between left the
  // file behind (an interrupted-conversion test caught it once in a few hundred runs). Until the
  // open, a signal unlinks a name that does not exist yet, which is harmless: the name is this
  // process's own (pid and counter).
  Register(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return IoError(temp, "create", errno);  // the destructor unregisters
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    const int err = errno;
    ::close(fd);
    std::remove(temp.c_str());
    return IoError(temp, "fdopen", err);
  }
  file->file_ = f;
  return file;
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_.c_str());
  }
  Unregister(temp_.c_str());  // after the removal: a signal meanwhile finds nothing to unlink
}

absl::Status AtomicFile::Write(const void* data, size_t bytes) {
  if (file_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, ": committed"));
  if (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes) {
    return IoError(temp_, "write", errno);
  }
  return absl::OkStatus();
}

absl::Status AtomicFile::Commit() {
  if (file_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, ": committed"));
  std::FILE* f = std::exchange(file_, nullptr);
  absl::Status status;
  if (std::fflush(f) != 0) {
    status = IoError(temp_, "flush", errno);
  } else if (::fsync(::fileno(f)) != 0) {
    status = IoError(temp_, "fsync", errno);
  }
  if (std::fclose(f) != 0 && status.ok()) status = IoError(temp_, "close", errno);
  if (status.ok() && std::rename(temp_.c_str(), path_.c_str()) != 0) {
    status = IoError(path_, "rename", errno);
  }
  if (!status.ok()) std::remove(temp_.c_str());
  return status;
}

}  // namespace ovid::gguf
