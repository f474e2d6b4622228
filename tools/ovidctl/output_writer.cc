// File: tools/ovidctl/output_writer.cc
#include "tools/ovidctl/output_writer.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/atomic_file.h"
#include "tools/ovidctl/format.h"

namespace ovidctl {

struct OutputWriter::Partial {
  std::string path;  // final name
  // Where the data goes until it is verified: <path>.tmp.<pid>.<n>, of this process alone,
  // removed if the writer goes (or a signal comes) before the last chunk.
  std::unique_ptr<ovid::gguf::AtomicFile> file;
  uint32_t next_seq = 0;
  uint64_t bytes = 0;
  EVP_MD_CTX* sha = nullptr;

  ~Partial() {
    if (sha) EVP_MD_CTX_free(sha);
  }
};

namespace {

// The server's job id names the default output file, so it must be a plain file name: a server
// that sent "../x" would otherwise have ovidctl write outside --out-dir.
bool IsPlainFileName(const std::string& id) {
  if (id.empty() || id.size() > 128 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

OutputWriter::OutputWriter(std::string dir) : dir_(std::move(dir)) {}
OutputWriter::~OutputWriter() = default;

absl::Status OutputWriter::Add(const std::string& job_id, const ovid::v1::OutputChunk& chunk) {
  const std::string name = OutputFormatName(chunk.format());
  const auto loss = [&](const std::string& problem) {
    return absl::DataLossError(absl::StrCat("output ", name, ": ", problem));
  };
  if (done_.count(chunk.format())) {
    return loss(absl::StrCat("chunk seq ", chunk.seq(), " after the last chunk"));
  }
  auto& slot = partial_[chunk.format()];
  if (!slot) {
    slot = std::make_unique<Partial>();
    const auto named = paths_.find(chunk.format());
    if (named == paths_.end() && !IsPlainFileName(job_id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the server's job id '", absl::CHexEscape(job_id.substr(0, 128)),
                       "' is not a plain file name; name the output with -o instead"));
    }
    slot->path = named != paths_.end()
                     ? named->second
                     : absl::StrCat(dir_, "/", job_id, ".", OutputExtension(chunk.format()));
    // A name of its own: another ovidctl following the same job into the same folder must not
    // truncate this one's data under it.
    absl::StatusOr<std::unique_ptr<ovid::gguf::AtomicFile>> file =
        ovid::gguf::AtomicFile::Create(slot->path);
    if (!file.ok()) {
      return absl::InternalError(
          absl::StrCat("cannot write ", slot->path, ": ", file.status().message()));
    }
    slot->file = *std::move(file);
    slot->sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(slot->sha, EVP_sha256(), nullptr);
  }
  Partial& p = *slot;
  if (chunk.seq() != p.next_seq) {
    return loss(absl::StrCat("chunk seq ", chunk.seq(), ", expected ", p.next_seq));
  }
  if (chunk.offset() != p.bytes) {
    return loss(absl::StrCat("chunk ", chunk.seq(), " at offset ", chunk.offset(), ", expected ",
                             p.bytes));
  }
  if (absl::Status s = p.file->Write(chunk.data().data(), chunk.data().size()); !s.ok()) {
    return absl::InternalError(s.message());
  }
  EVP_DigestUpdate(p.sha, chunk.data().data(), chunk.data().size());
  p.bytes += chunk.data().size();
  ++p.next_seq;
  if (!chunk.last()) return absl::OkStatus();

  if (chunk.total_bytes() != p.bytes) {
    return loss(absl::StrCat("received ", p.bytes, " bytes, the last chunk says ",
                             chunk.total_bytes()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(p.sha, digest, &len);
  const std::string got(reinterpret_cast<const char*>(digest), len);
  if (got != chunk.sha256()) {
    return loss(absl::StrCat("SHA-256 ", absl::BytesToHexString(got),
                             " does not match the server's ",
                             absl::BytesToHexString(chunk.sha256())));
  }
  // Flushed to disk and renamed over the final name: a file under that name is always whole.
  if (absl::Status s = p.file->Commit(); !s.ok()) {
    return absl::InternalError(absl::StrCat("cannot finish ", p.path, ": ", s.message()));
  }
  written_.push_back({chunk.format(), p.path, p.bytes, absl::BytesToHexString(got)});
  done_[chunk.format()] = true;
  partial_.erase(chunk.format());
  return absl::OkStatus();
}

absl::Status OutputWriter::Finish() const {
  if (partial_.empty()) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("output ",
                   OutputFormatName(static_cast<ovid::v1::OutputFormat>(partial_.begin()->first)),
                   ": the job ended before its last chunk"));
}

}  // namespace ovidctl
