// File: tools/ovidctl/model_cmd.cc
// `ovidctl model [--json]`: GetModel, as aligned text for people or as JSON for scripts.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ovid/v1/generation.grpc.pb.h"
#include "tools/ovidctl/commands.h"
#include "tools/ovidctl/connection.h"
#include "tools/ovidctl/format.h"

namespace ovidctl {
namespace {

void PrintModel(const ovid::v1::ModelInfo& m) {
  const auto& c = m.config();
  std::printf("version:        %s\n", m.version().c_str());
  std::printf("variant:        %s (%.2f B parameters)\n", c.variant().c_str(),
              static_cast<double>(c.parameters()) / 1e9);
  std::printf("config:         dim %u, ffn %u, %u heads x %u, %u layers, text %u x %u, "
              "audio RoPE scale %g\n",
              c.dim(), c.ffn_dim(), c.heads(), c.head_dim(), c.layers(), c.text_len(),
              c.text_dim(), c.audio_rope_scale());
  std::printf("dequant:        %s (%u of %u tensors quantized)\n", m.dequant_mode().c_str(),
              m.tensors_quantized(), m.tensors_total());
  std::printf("batch guidance: %s\n", m.batch_guidance().c_str());
  std::printf("quantization:\n  %-8s %8s %14s\n", "type", "tensors", "bytes");
  for (const auto& q : m.quantization()) {
    std::printf("  %-8s %8u %14s\n", q.type().c_str(), q.tensors(), HumanBytes(q.bytes()).c_str());
  }
  const auto& v = m.vram();
  const auto row = [](const char* label, uint64_t bytes) {
    std::printf("  %-28s %12s\n", label, HumanBytes(bytes).c_str());
  };
  std::printf("vram:\n");
  row("weights resident", v.weights_resident_bytes());
  row("weights (bf16 equivalent)", v.weights_bf16_equivalent_bytes());
  row("dequant workspace", v.dequant_workspace_bytes());
  row("dequant cache", v.cache_bytes());
  row("torch allocated", v.torch_allocated_bytes());
  row("torch reserved", v.torch_reserved_bytes());
  row("torch peak", v.torch_peak_bytes());
  row("device used", v.device_used_bytes());
  row("device total", v.device_total_bytes());
  std::printf("stages:\n");
  for (const auto& s : m.stages()) {
    const char* state = !s.loaded() ? "not loaded" : s.offloaded() ? "offloaded" : "loaded";
    std::printf("  %-14s %s%s%s\n", s.name().c_str(), state, s.file().empty() ? "" : "  ",
                s.file().c_str());
  }
  std::vector<std::string> formats;
  for (int f : m.output_formats()) {
    formats.push_back(OutputFormatName(static_cast<ovid::v1::OutputFormat>(f)));
  }
  std::printf("output formats: %s\n", absl::StrJoin(formats, ", ").c_str());
  if (m.has_limits()) {
    const auto& l = m.limits();
    std::printf("limits:         %u workers, queue %u", l.workers(), l.max_queue());
    std::vector<std::string> queue_notes;
    if (l.max_queue_per_tenant() > 0) {
      queue_notes.push_back(absl::StrCat(l.max_queue_per_tenant(), " per tenant"));
    }
    if (l.tenant_scheduling() == "fair") queue_notes.push_back("tenants take turns");
    if (l.tenant_scheduling() == "share") queue_notes.push_back("tenants share worker time");
    if (l.tenant_scheduling() == "fifo") queue_notes.push_back("first come, first served");
    if (l.max_queue_wait_seconds() > 0) {
      queue_notes.push_back(absl::StrFormat("wait at most %g s", l.max_queue_wait_seconds()));
    }
    if (!queue_notes.empty()) std::printf(" (%s)", absl::StrJoin(queue_notes, ", ").c_str());
    std::printf(", VRAM budget %s, requests up to %s, finished jobs kept %g s\n",
                l.vram_budget_bytes() == 0 ? "none" : HumanBytes(l.vram_budget_bytes()).c_str(),
                HumanBytes(l.max_request_bytes()).c_str(), l.job_ttl_seconds());
  }
}

}  // namespace

int RunModel(const std::vector<std::string>& argv) {
  const Args args = Args::Parse(argv, WithGlobalFlags({{"json", false}}));
  if (!args.positional().empty()) throw UsageError("model takes no arguments");
  const Connection conn(ConnectionOptionsFrom(args));
  auto stub = ovid::v1::Generation::NewStub(conn.channel());
  grpc::ClientContext ctx;
  conn.Prepare(&ctx);
  ovid::v1::ModelInfo info;
  const grpc::Status st = stub->GetModel(&ctx, ovid::v1::GetModelRequest(), &info);
  if (!st.ok()) return ReportFailure("model", st.error_code(), st.error_message());
  if (!args.Has("json")) {
    PrintModel(info);
    return 0;
  }
  if (!PrintJson(info)) return ReportFailure("model", 13, "cannot print the reply as JSON");
  return 0;
}

}  // namespace ovidctl
