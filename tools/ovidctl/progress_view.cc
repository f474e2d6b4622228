// File: tools/ovidctl/progress_view.cc
#include "tools/ovidctl/progress_view.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/ovidctl/format.h"

namespace ovidctl {

void ProgressView::Line(const std::string& text, bool transient) {
  if (terminal_) {
    // \r + erase-line redraws in place; a transient line is left for the next one to replace.
    std::fprintf(out_, "\r\033[K%s%s", text.c_str(), transient ? "" : "\n");
    dirty_ = transient;
  } else {
    std::fprintf(out_, "%s\n", text.c_str());
  }
  std::fflush(out_);
}

void ProgressView::Accepted(const std::string& job_id, const ovid::v1::Accepted& a) {
  Line(absl::StrCat("job ", job_id, " accepted (queue position ", a.queue_position(),
                    ", estimated VRAM ", HumanBytes(a.estimated_vram_bytes()), ")"),
       false);
}

void ProgressView::Progress(const ovid::v1::Progress& p) {
  const uint32_t total = std::max<uint32_t>(p.total(), 1);
  const uint32_t step = std::min(p.step(), total);
  const std::string eta = p.remaining_seconds() > 0 ? Clock(p.remaining_seconds()) : "--:--";
  const std::string counts = absl::StrFormat("%u/%u  elapsed %s  ETA %s", step, total,
                                             Clock(p.elapsed_seconds()), eta);
  if (terminal_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(static_cast<uint64_t>(step) * kWidth / total);
    Line(absl::StrFormat("%-12s [%s%s] %s", p.stage(), std::string(filled, '#'),
                         std::string(kWidth - filled, '.'), counts),
         true);
    return;
  }
  const uint32_t decile = static_cast<uint32_t>(static_cast<uint64_t>(step) * 10 / total);
  // The last step is always its own decile (10), so every stage's completion is logged.
  if (p.stage() != stage_ || decile != decile_) Line(absl::StrCat(p.stage(), " ", counts), false);
  stage_ = p.stage();
  decile_ = decile;
}

void ProgressView::Chunk(const ovid::v1::OutputChunk& c) {
  chunk_bytes_ += c.data().size();
  if (!c.last()) {
    if (terminal_) {
      Line(absl::StrCat("receiving ", OutputFormatName(c.format()), " ", HumanBytes(chunk_bytes_)),
           true);
    }
    return;
  }
  Line(absl::StrCat("received ", OutputFormatName(c.format()), " (", HumanBytes(c.total_bytes()),
                    ")"),
       false);
  chunk_bytes_ = 0;
}

void ProgressView::Reattach(int attempt, uint64_t from_event, const std::string& why) {
  Line(absl::StrCat("stream lost (", why, "); re-attaching from event ", from_event,
                    " (attempt ", attempt, ")"),
       false);
}

void ProgressView::Close() {
  if (dirty_) {
    std::fprintf(out_, "\n");
    std::fflush(out_);
    dirty_ = false;
  }
}

}  // namespace ovidctl
