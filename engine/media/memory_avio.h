// File: engine/media/memory_avio.h
// A seekable in-memory output for libavformat, so an MP4 is muxed without touching the disk.
//
// Seekable matters twice: the mp4 muxer seeks back to patch sizes, and with movflags=faststart
// it moves the moov atom in front of the media data at the end, which is what lets a player
// start a file that is still streaming in. For that second pass the muxer reopens its output
// *for reading* through AVFormatContext::io_open; AttachTo() answers that with a reader over the
// same bytes (and refuses every other open, so no URL reaches the file system or network).
// One MemoryAvio per encode: nothing here is shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

extern "C" {
#include <libavformat/avformat.h>
}

#include "absl/status/statusor.h"

namespace ovid::media {

class MemoryAvio {
 public:
  static absl::StatusOr<std::unique_ptr<MemoryAvio>> Create();
  ~MemoryAvio();
  MemoryAvio(const MemoryAvio&) = delete;
  MemoryAvio& operator=(const MemoryAvio&) = delete;

  // Makes `fmt` write here (custom I/O) and reopen these bytes for reading when it asks.
  // `fmt` must not outlive this object.
  void AttachTo(AVFormatContext* fmt);

  // Flushes the write buffer and hands the bytes over.
  std::string Take();

  // Callbacks, public for the C glue in the .cc; not for other callers.
  int Write(const uint8_t* buf, int size);
  int64_t Seek(int64_t offset, int whence);
  const std::string& bytes() const { return data_; }

 private:
  MemoryAvio() = default;
  std::string data_;
  int64_t pos_ = 0;
  AVIOContext* ctx_ = nullptr;
};

}  // namespace ovid::media
