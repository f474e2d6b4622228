// File: tools/ovid_gguf/components.h
// The model components ovid-gguf knows how to check (keys --expect, convert --component): one
// entry per component, each a function from a file's tensor names and shapes to a KeyReport.
// The entries only adapt the torch-free layout libraries (engine/models/*/..._layout), which
// own the key tables; adding a component is one entry here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tools/ovid_gguf/key_report.h"

namespace ovid::tools {

struct ComponentOptions {
  int64_t ovi_head_dim = 128;  // not visible in Ovi's shapes
};

struct Component {
  const char* name;         // "umt5"
  const char* description;  // "UMT5-XXL text encoder (pth, hf or gguf names)"
  KeyReport (*check)(const std::vector<NamedShape>& tensors, std::string_view source,
                     const ComponentOptions& options);
};

const std::vector<Component>& Components();
const Component* FindComponent(std::string_view name);
std::string ComponentNames();  // "ovi, umt5, wan_vae, ..."

// The component that knows most of the names (more than half of them), or null.
const Component* DetectComponent(const std::vector<NamedShape>& tensors,
                                 const ComponentOptions& options);

}  // namespace ovid::tools
