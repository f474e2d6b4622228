// File: tools/ovid_gguf/key_report.h
// A file's tensor set compared with what a component expects, as lists (ovid-gguf keys prints
// them one per line or as JSON; convert turns them into one error). The layout libraries build
// the expected set; the comparison is here, once for every component.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ovid::tools {

struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order
};

struct ExpectedTensor {
  std::vector<std::string> names;            // [0] preferred, then accepted aliases
  std::vector<std::vector<int64_t>> shapes;  // any of these is accepted ([0] is reported)
  bool optional = false;                     // absent is fine
};

struct MissingTensor {
  std::string name;  // "a (or b)" when aliases are accepted
  std::vector<int64_t> shape;
};
struct MisshapedTensor {
  std::string name;
  std::vector<int64_t> shape;  // in the file
  std::vector<int64_t> expected;
};

struct KeyReport {
  std::string component;  // "umt5"
  std::string layout;     // the detected source layout ("pth", "diffusers", ...)
  std::string config;     // what the shapes say, for people ("24 layers, d_model 4096")
  // Set when the expected set could not even be built (no known name, shapes that give no
  // config); the lists are then empty.
  std::string error;
  size_t recognized = 0;  // the file's names the component knows (picks the component)
  std::vector<MissingTensor> missing;
  std::vector<NamedShape> unexpected;
  std::vector<MisshapedTensor> misshaped;

  bool ok() const {
    return error.empty() && missing.empty() && unexpected.empty() && misshaped.empty();
  }
  // One line: "<source>: tensors do not match <component> (<layout> layout): 2 missing: a, b;
  // 1 misshaped: x [255], expected [256]". At most `max_listed` names per list.
  std::string Summary(std::string_view source, size_t max_listed = 12) const;
};

// Fills missing / unexpected / misshaped / recognized of `report`.
void CompareTensorSets(const std::vector<ExpectedTensor>& expected,
                       const std::vector<NamedShape>& actual, KeyReport* report);

std::string ShapeText(const std::vector<int64_t>& shape);  // "[4096, 10240]"

}  // namespace ovid::tools
