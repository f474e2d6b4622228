// File: server/model_info.cc
#include "server/model_info.h"

namespace ovid::server {

v1::ModelInfo ToModelInfo(const ModelDescription& model, const VramSnapshot& vram,
                          const std::string& version) {
  v1::ModelInfo info;
  v1::ModelConfig* config = info.mutable_config();
  config->set_variant(model.variant);
  config->set_dim(model.dim);
  config->set_ffn_dim(model.ffn_dim);
  config->set_heads(model.heads);
  config->set_head_dim(model.head_dim);
  config->set_layers(model.layers);
  config->set_text_len(model.text_len);
  config->set_text_dim(model.text_dim);
  config->set_audio_rope_scale(model.audio_rope_scale);
  config->set_parameters(model.parameters);
  info.set_dequant_mode(model.weight_mode);
  info.set_batch_guidance(model.batch_guidance);
  for (const QuantTypeCount& q : model.quantization) {
    v1::QuantTypeStats* stats = info.add_quantization();
    stats->set_type(q.type);
    stats->set_tensors(q.tensors);
    stats->set_bytes(q.bytes);
  }
  info.set_tensors_total(model.tensors_total);
  info.set_tensors_quantized(model.tensors_quantized);
  v1::VramUsage* usage = info.mutable_vram();
  usage->set_weights_resident_bytes(vram.weights_resident_bytes);
  usage->set_weights_bf16_equivalent_bytes(vram.weights_bf16_equivalent_bytes);
  usage->set_dequant_workspace_bytes(vram.dequant_workspace_bytes);
  usage->set_cache_bytes(vram.cache_bytes);
  usage->set_torch_allocated_bytes(vram.torch_allocated_bytes);
  usage->set_torch_reserved_bytes(vram.torch_reserved_bytes);
  usage->set_torch_peak_bytes(vram.torch_peak_bytes);
  usage->set_device_total_bytes(vram.device_total_bytes);
  usage->set_device_used_bytes(vram.device_used_bytes);
  for (const StageDescription& s : model.stages) {
    v1::StageInfo* stage = info.add_stages();
    stage->set_name(s.name);
    stage->set_loaded(s.loaded);
    stage->set_offloaded(s.offloaded);
    stage->set_file(s.file);
  }
  for (OutputFormat f : model.output_formats) {
    info.add_output_formats(static_cast<v1::OutputFormat>(f));
  }
  info.set_version(version);
  return info;
}

v1::ServingLimits ToServingLimits(const Config& config, uint64_t vram_budget_bytes) {
  v1::ServingLimits limits;
  limits.set_workers(config.workers);
  limits.set_max_queue(config.max_queue);
  limits.set_max_queue_per_tenant(config.max_queue_per_tenant);
  limits.set_max_tenant_priority(config.max_tenant_priority);
  limits.set_tenant_scheduling(TenantSchedulingName(config.tenant_scheduling));
  limits.set_max_queue_wait_seconds(absl::ToDoubleSeconds(config.max_queue_wait));
  limits.set_vram_budget_bytes(vram_budget_bytes);
  limits.set_max_request_bytes(config.max_receive_bytes);
  limits.set_job_ttl_seconds(absl::ToDoubleSeconds(config.job_ttl));
  return limits;
}

}  // namespace ovid::server
