// File: engine/gguf/pickle_reader.h
// A restricted unpickler for the data.pkl of a torch.save checkpoint. It interprets the pickle
// opcodes torch writes (protocol 2, plus the protocol 4 framing and short strings) into a tree
// of plain values and NEVER runs anything: a GLOBAL is just a name. The torch rebuild functions
// and storage classes that describe tensors are recognised by name and turned into tensor
// leaves; collections.OrderedDict becomes a dict. Any other global (argparse.Namespace in a
// training checkpoint, numpy scalars, an optimizer's classes) becomes an opaque value that is
// fine to carry as long as nobody needs it. Globals that only an attack would reference (os,
// subprocess, builtins, ...) are refused outright with an error naming them.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/safetensors_file.h"

namespace ovid::gguf {

struct PickleNode {
  enum class Kind : uint8_t {
    kNone,
    kBool,
    kInt,
    kFloat,
    kStr,
    kBytes,
    kList,
    kTuple,
    kDict,
    kGlobal,   // an allowed torch/collections name, not yet applied (text = "module.name")
    kStorage,  // a persistent id ('storage', type, key, location, numel)
    kTensor,   // _rebuild_tensor_v2 applied to a storage
    kOpaque,   // anything else; text says what ("argparse.Namespace object")
  };
  Kind kind = Kind::kNone;
  uint64_t offset = 0;  // the opcode in data.pkl that made it (for errors)
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                // str, bytes, global name, opaque description, storage key
  std::vector<PickleNode*> items;  // list / tuple items
  std::vector<std::pair<PickleNode*, PickleNode*>> entries;  // dict, insertion order
  // kStorage: its element type (nullopt when torch has it but ovid does not), element count
  // and the storage class name; kTensor: the same dtype plus its view of the storage.
  std::optional<StDtype> dtype;
  std::string storage_class;  // "torch.BFloat16Storage"
  int64_t numel = 0;
  PickleNode* storage = nullptr;  // kTensor
  int64_t storage_offset = 0;     // kTensor, in elements
  std::vector<int64_t> shape;     // kTensor
  std::vector<int64_t> strides;   // kTensor, in elements
};
const char* PickleKindName(PickleNode::Kind kind);  // "dict", "tensor", ...

// The parsed pickle: every node lives in the arena, so shared references (the memo) and even
// cycles a hostile file could build are plain pointers with one owner.
struct PickleTree {
  std::deque<PickleNode> arena;
  PickleNode* root = nullptr;
  std::vector<PickleNode*> storages;  // every kStorage node, in order of appearance
};

// `name` ("x.pt/archive/data.pkl") starts every error, with the byte offset and the opcode.
absl::StatusOr<PickleTree> ReadPickle(std::string name, std::span<const uint8_t> bytes);

}  // namespace ovid::gguf
