// File: engine/media/memory_avio.cc
#include "engine/media/memory_avio.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace ovid::media {
namespace {

constexpr int kBufferSize = 64 * 1024;

// Resolves an AVSEEK request against a stream of `size` bytes now at `pos`; -1 when invalid.
int64_t SeekTarget(int64_t pos, int64_t size, int64_t offset, int whence) {
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: return offset;
    case SEEK_CUR: return pos + offset;
    case SEEK_END: return size + offset;
    default: return -1;
  }
}

int WriteCallback(void* opaque, uint8_t* buf, int size) {
  return static_cast<MemoryAvio*>(opaque)->Write(buf, size);
}

int64_t SeekCallback(void* opaque, int64_t offset, int whence) {
  return static_cast<MemoryAvio*>(opaque)->Seek(offset, whence);
}

// The read side of faststart's second pass: its own position over the writer's bytes.
struct Reader {
  const MemoryAvio* source;
  int64_t pos = 0;
};

int ReadCallback(void* opaque, uint8_t* buf, int size) {
  auto* r = static_cast<Reader*>(opaque);
  const std::string& data = r->source->bytes();
  const int64_t left = static_cast<int64_t>(data.size()) - r->pos;
  if (left <= 0) return AVERROR_EOF;
  const int n = static_cast<int>(std::min<int64_t>(left, size));
  std::memcpy(buf, data.data() + r->pos, static_cast<size_t>(n));
  r->pos += n;
  return n;
}

int64_t ReaderSeekCallback(void* opaque, int64_t offset, int whence) {
  auto* r = static_cast<Reader*>(opaque);
  const int64_t size = static_cast<int64_t>(r->source->bytes().size());
  if (whence & AVSEEK_SIZE) return size;
  const int64_t target = SeekTarget(r->pos, size, offset, whence);
  if (target < 0) return AVERROR(EINVAL);
  r->pos = target;
  return target;
}

void FreeContext(AVIOContext* ctx) {
  if (ctx == nullptr) return;
  av_freep(&ctx->buffer);  // libav may have replaced the buffer we gave it
  avio_context_free(&ctx);
}

int IoOpen(AVFormatContext* s, AVIOContext** pb, const char* url, int flags,
           AVDictionary** options) {
  // Only the muxer's own read-back of its output is allowed.
  if ((flags & AVIO_FLAG_WRITE) || !(flags & AVIO_FLAG_READ)) return AVERROR(EPERM);
  auto* reader = new (std::nothrow) Reader{static_cast<const MemoryAvio*>(s->opaque)};
  auto* buffer = static_cast<uint8_t*>(av_malloc(kBufferSize));
  AVIOContext* ctx = (reader && buffer) ? avio_alloc_context(buffer, kBufferSize, 0, reader,
                                                             ReadCallback, nullptr,
                                                             ReaderSeekCallback)
                                        : nullptr;
  if (ctx == nullptr) {
    av_free(buffer);
    delete reader;
    return AVERROR(ENOMEM);
  }
  *pb = ctx;
  return 0;
}

int IoClose2(AVFormatContext* s, AVIOContext* pb) {
  if (pb == nullptr) return 0;
  delete static_cast<Reader*>(pb->opaque);
  FreeContext(pb);
  return 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryAvio>> MemoryAvio::Create() {
  std::unique_ptr<MemoryAvio> io(new MemoryAvio());
  auto* buffer = static_cast<uint8_t*>(av_malloc(kBufferSize));
  if (buffer == nullptr) return absl::ResourceExhaustedError("MemoryAvio: out of memory");
  io->ctx_ = avio_alloc_context(buffer, kBufferSize, 1, io.get(), nullptr, WriteCallback,
                                SeekCallback);
  if (io->ctx_ == nullptr) {
    av_free(buffer);
    return absl::ResourceExhaustedError("avio_alloc_context: out of memory");
  }
  return io;
}

MemoryAvio::~MemoryAvio() { FreeContext(ctx_); }

void MemoryAvio::AttachTo(AVFormatContext* fmt) {
  fmt->pb = ctx_;
  fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
  fmt->opaque = this;
  fmt->io_open = IoOpen;
  fmt->io_close2 = IoClose2;
}

std::string MemoryAvio::Take() {
  avio_flush(ctx_);
  pos_ = 0;
  return std::move(data_);
}

int MemoryAvio::Write(const uint8_t* buf, int size) {
  const size_t end = static_cast<size_t>(pos_) + static_cast<size_t>(size);
  try {
    if (end > data_.size()) data_.resize(end);
  } catch (const std::bad_alloc&) {
    return AVERROR(ENOMEM);
  }
  std::memcpy(data_.data() + pos_, buf, static_cast<size_t>(size));
  pos_ = static_cast<int64_t>(end);
  return size;
}

int64_t MemoryAvio::Seek(int64_t offset, int whence) {
  const int64_t size = static_cast<int64_t>(data_.size());
  if (whence & AVSEEK_SIZE) return size;
  const int64_t target = SeekTarget(pos_, size, offset, whence);
  if (target < 0) return AVERROR(EINVAL);
  pos_ = target;  // past the end is fine: a later write fills the gap with zeros
  return target;
}

}  // namespace ovid::media
