// File: server/events.cc
#include "server/events.h"

#include <openssl/sha.h>

#include <algorithm>
#include <string>

namespace ovid::server {

v1::GenerateEvent ProgressEvent(const Progress& progress) {
  v1::GenerateEvent event;
  v1::Progress* p = event.mutable_progress();
  p->set_stage(progress.stage);
  p->set_step(progress.step);
  p->set_total(progress.total);
  p->set_elapsed_seconds(progress.elapsed_seconds);
  p->set_remaining_seconds(progress.remaining_seconds);
  return event;
}

std::vector<v1::GenerateEvent> OutputChunkEvents(const Output& output, size_t max_chunk) {
  std::vector<v1::GenerateEvent> events;
  const std::string& data = output.data;
  size_t offset = 0;
  uint32_t seq = 0;
  do {
    const size_t n = std::min(max_chunk, data.size() - offset);
    v1::GenerateEvent event;
    v1::OutputChunk* chunk = event.mutable_chunk();
    chunk->set_format(static_cast<v1::OutputFormat>(output.format));
    chunk->set_seq(seq++);
    chunk->set_offset(offset);
    chunk->set_data(data.substr(offset, n));
    offset += n;
    if (offset == data.size()) {
      chunk->set_last(true);
      chunk->set_total_bytes(data.size());
      unsigned char digest[SHA256_DIGEST_LENGTH];
      SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
      chunk->set_sha256(reinterpret_cast<const char*>(digest), sizeof(digest));
    }
    events.push_back(std::move(event));
  } while (offset < data.size());
  return events;
}

v1::Final FinalFromResult(const GenerationResult& result, double queue_seconds,
                          double total_seconds) {
  v1::Final final;
  final.set_seed(result.seed);
  const EffectiveParameters& in = result.parameters;
  v1::EffectiveParameters* out = final.mutable_parameters();
  out->set_width(in.width);
  out->set_height(in.height);
  out->set_duration_seconds(in.duration_seconds);
  out->set_steps(in.steps);
  out->set_solver(static_cast<v1::Solver>(in.solver));
  out->set_shift(in.shift);
  out->set_video_guidance(in.video_guidance);
  out->set_audio_guidance(in.audio_guidance);
  out->set_slg_layer(in.slg_layer);
  out->set_video_frames(in.video_frames);
  out->set_audio_samples(in.audio_samples);
  for (OutputFormat f : in.outputs) out->add_outputs(static_cast<v1::OutputFormat>(f));
  out->set_guidance_batched(in.guidance_batched);
  for (const StageTiming& s : result.stages) {
    v1::StageTiming* t = final.add_stages();
    t->set_stage(s.stage);
    t->set_seconds(s.seconds);
    t->set_peak_vram_bytes(s.peak_vram_bytes);
  }
  final.set_queue_seconds(queue_seconds);
  final.set_total_seconds(total_seconds);
  final.set_peak_vram_bytes(result.peak_vram_bytes);
  return final;
}

}  // namespace ovid::server
