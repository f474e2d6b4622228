// File: engine/gguf/pth_file.cc
#include "engine/gguf/pth_file.h"

#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/status_macros.h"

namespace ovid::gguf {
namespace {

using Kind = PickleNode::Kind;

// Real checkpoints nest a few levels (checkpoint -> state dict -> tensor). A deeper tree is
// hostile (or a cycle through the memo); the bound keeps the recursion off the stack limit.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxListedKeys = 20;

// Upper bound on elements and element indices: far above any real tensor, low enough that
// index arithmetic cannot overflow int64.
constexpr int64_t kMaxElements = int64_t{1} << 53;

std::string KeyText(const PickleNode* key) {
  if (key->kind == Kind::kStr) return key->text;
  if (key->kind == Kind::kInt) return absl::StrCat(key->integer);
  return "";  // other keys (tuples, None) cannot name a tensor
}

std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : absl::StrCat(prefix, ".", key);
}

std::string ListKeys(const PickleNode* dict) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : dict->entries) {
    if (keys.size() == kMaxListedKeys) {
      keys.push_back(absl::StrCat("... (", dict->entries.size() - kMaxListedKeys, " more)"));
      break;
    }
    keys.push_back(absl::StrCat("'", KeyText(k), "' (", PickleKindName(v->kind), ")"));
  }
  return keys.empty() ? "none" : absl::StrJoin(keys, ", ");
}

// Walks one subtree, collecting tensors and the first error.
class Flattener {
 public:
  // max_visits: a bound on the walk; a tree visits each node once (tied weights a few more).
  Flattener(const std::string& path, const std::map<std::string, std::span<const uint8_t>>& data,
            size_t max_visits)
      : path_(path), data_(data), max_visits_(max_visits) {}

  absl::Status Walk(const PickleNode* n, const std::string& name, int depth) {
    if (depth > kMaxDepth) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": '", name, "' is nested more than ",
                                                     kMaxDepth, " levels deep (a cycle?)"));
    }
    // Memo references make the pickle a graph: a list holding itself twice, or a chain of
    // shared pairs, has exponentially many paths within the depth limit.
    if (++visits_ > max_visits_) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": the pickle's objects are reached by more than ", max_visits_,
                       " paths (shared or cyclic containers), at '", name, "'"));
    }
    switch (n->kind) {
      case Kind::kDict:
        for (const auto& [k, v] : n->entries) {
          const std::string key = KeyText(k);
          if (key.empty()) {
            return absl::InvalidArgumentError(
                absl::StrCat(path_, ": a dict under '", name, "' has a ", PickleKindName(k->kind),
                             " key; only str and int keys can name tensors"));
          }
          OVID_RETURN_IF_ERROR(Walk(v, Join(name, key), depth + 1));
        }
        return absl::OkStatus();
      case Kind::kList:
      case Kind::kTuple:
        for (size_t i = 0; i < n->items.size(); ++i) {
          OVID_RETURN_IF_ERROR(Walk(n->items[i], Join(name, absl::StrCat(i)), depth + 1));
        }
        return absl::OkStatus();
      case Kind::kTensor:
        return AddTensor(n, name);
      case Kind::kOpaque:
      case Kind::kGlobal:
      case Kind::kStorage:
        return absl::InvalidArgumentError(absl::StrCat(
            path_, ": '", name, "' is a ", n->text.empty() ? PickleKindName(n->kind) : n->text,
            " (data.pkl byte ", n->offset,
            "), which ovid does not read: --select a key that holds only tensors"));
      default:
        ++skipped_;  // numbers, strings, None: not weights
        return absl::OkStatus();
    }
  }

  std::vector<PthTensor> tensors;
  size_t skipped_ = 0;

 private:
  absl::Status AddTensor(const PickleNode* n, const std::string& name) {
    auto bad = [&](const std::string& what) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": tensor '", name, "' (data.pkl byte ", n->offset, "): ", what));
    };
    if (!n->dtype) {
      return bad(
          absl::StrCat("its storage is a ", n->storage_class, ", a dtype ovid does not convert"));
    }
    PthTensor t;
    t.name = name;
    t.dtype = *n->dtype;
    t.shape = n->shape;
    t.strides = n->strides;
    t.storage_offset = n->storage_offset;
    t.storage_key = n->storage->text;
    t.storage = data_.at(t.storage_key);
    // The highest element index the view touches must lie inside the storage.
    int64_t numel = 1, last = n->storage_offset;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] == 0) numel = 0;
      if (numel != 0 && t.shape[d] > kMaxElements / numel) return bad("too many elements");
      numel *= t.shape[d];
      if (t.shape[d] > 0 && t.strides[d] > 0) {
        if (t.strides[d] > kMaxElements / t.shape[d]) return bad("a stride out of range");
        last += (t.shape[d] - 1) * t.strides[d];
        if (last > kMaxElements) return bad("a stride out of range");
      }
    }
    t.numel = numel;
    if (numel > 0 && last >= n->storage->numel) {
      return bad(absl::StrCat("its view (offset ", t.storage_offset, ", shape [",
                              absl::StrJoin(t.shape, ", "), "], strides [",
                              absl::StrJoin(t.strides, ", "), "]) reaches element ", last,
                              " of storage '", t.storage_key, "', which has ", n->storage->numel));
    }
    tensors.push_back(std::move(t));
    return absl::OkStatus();
  }

  const std::string& path_;
  const std::map<std::string, std::span<const uint8_t>>& data_;
  const size_t max_visits_;
  size_t visits_ = 0;
};

// Bound on a walk over `tree`: each node a few times.
size_t MaxVisits(const PickleTree& tree) { return 4 * tree.arena.size() + 1024; }

// Tensors below `n` (for the nesting report), each node counted once however often it is
// referenced (memo references make the pickle a graph, possibly cyclic).
size_t CountTensors(const PickleNode* n, int depth, std::set<const PickleNode*>* seen) {
  if (depth > kMaxDepth || !seen->insert(n).second) return 0;
  if (n->kind == Kind::kTensor) return 1;
  size_t count = 0;
  for (const PickleNode* i : n->items) count += CountTensors(i, depth + 1, seen);
  for (const auto& [k, v] : n->entries) count += CountTensors(v, depth + 1, seen);
  return count;
}

}  // namespace

bool PthTensor::contiguous() const {
  int64_t expected = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

bool LooksLikePth(std::span<const uint8_t> bytes) { return LooksLikeZip(bytes); }

bool LooksLikeLegacyTorchSave(std::span<const uint8_t> bytes) {
  // The bare pickle stream opens with the pickled magic number 0x1950a86a20f9469cfc6c (PROTO 2,
  // LONG1 of 10 bytes); the oldest format is a POSIX tar archive.
  static constexpr uint8_t kMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                       0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return (bytes.size() >= sizeof(kMagic) &&
          std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0) ||
         (bytes.size() >= 262 && std::memcmp(bytes.data() + 257, "ustar", 5) == 0);
}

absl::StatusOr<std::unique_ptr<PthFile>> PthFile::Open(const std::string& path) {
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, MappedFile::Open(path));
  std::unique_ptr<PthFile> file(new PthFile());
  file->path_ = path;
  file->bytes_ = mapping->bytes();
  file->mapping_ = std::move(mapping);
  OVID_RETURN_IF_ERROR(file->Load());
  return file;
}

absl::StatusOr<std::unique_ptr<PthFile>> PthFile::FromBuffer(std::string name,
                                                             std::span<const uint8_t> bytes) {
  std::unique_ptr<PthFile> file(new PthFile());
  file->path_ = std::move(name);
  file->bytes_ = bytes;
  OVID_RETURN_IF_ERROR(file->Load());
  return file;
}

absl::Status PthFile::Load() {
  if (!LooksLikeZip(bytes_)) {
    // torch.save before 1.6 (or with _use_new_zipfile_serialization=False).
    if (LooksLikeLegacyTorchSave(bytes_)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_,
          ": a legacy torch.save file (before PyTorch 1.6, or saved with "
          "_use_new_zipfile_serialization=False); only the zip format is read. Re-save it once "
          "with torch.save(torch.load(f), f2) in a current PyTorch"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": not a PyTorch checkpoint (no zip signature at byte 0)"));
  }
  OVID_ASSIGN_OR_RETURN(ZipArchive zip, ZipArchive::Parse(path_, bytes_));
  zip_ = std::make_unique<ZipArchive>(std::move(zip));
  const ZipEntry* pkl = nullptr;
  for (const ZipEntry& e : zip_->entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
      pkl = &e;
      archive_ = e.name.substr(0, slash);
      break;
    }
  }
  if (pkl == nullptr) {
    std::vector<std::string> names;
    for (const ZipEntry& e : zip_->entries()) {
      if (names.size() < 8) names.push_back(e.name);
    }
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": a zip archive without an <archive>/data.pkl record, so not a torch.save file (",
        zip_->entries().size(), " entries: ", absl::StrJoin(names, ", "), ")"));
  }
  if (const ZipEntry* order = zip_->Find(archive_ + "/byteorder")) {
    OVID_ASSIGN_OR_RETURN(std::span<const uint8_t> text, zip_->Data(*order));
    const std::string value(reinterpret_cast<const char*>(text.data()), text.size());
    if (value != "little") {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": ", archive_, "/byteorder is '",
                                                     value, "'; only little-endian is read"));
    }
  }
  OVID_ASSIGN_OR_RETURN(std::span<const uint8_t> pickle, zip_->Data(*pkl));
  OVID_ASSIGN_OR_RETURN(tree_, ReadPickle(absl::StrCat(path_, ": ", pkl->name), pickle));
  // Every storage node is checked against its record, not only the first one of a key: a later
  // node may name the same record with another dtype or element count, and views are bounded by
  // the node they use.
  for (const PickleNode* s : tree_.storages) {
    const std::string record = absl::StrCat(archive_, "/data/", s->text);
    std::span<const uint8_t> data;
    if (auto known = storage_bytes_.find(s->text); known != storage_bytes_.end()) {
      data = known->second;
    } else {
      const ZipEntry* e = zip_->Find(record);
      if (e == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(path_, ": storage '", s->text,
                                                       "' (data.pkl byte ", s->offset,
                                                       ") has no record ", record));
      }
      OVID_ASSIGN_OR_RETURN(data, zip_->Data(*e));
    }
    // A storage's element count comes from the pickle: bound it before multiplying, or a huge
    // one wraps to a small byte count and views index far past the record.
    if (s->numel > kMaxElements) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": storage '", s->text, "' (data.pkl byte ", s->offset, ") claims ",
                       s->numel, " elements; at most ", kMaxElements));
    }
    const uint64_t need = s->dtype ? static_cast<uint64_t>(s->numel) * StDtypeBytes(*s->dtype) : 0;
    if (data.size() < need) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": record ", record, " holds ", data.size(),
                       " bytes, but its storage (", s->storage_class, ", data.pkl byte ", s->offset,
                       ") has ", s->numel, " elements = ", need, " bytes (truncated?)"));
    }
    storage_bytes_[s->text] = data;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PthTensor>> PthFile::Tensors(std::string_view select,
                                                        size_t* skipped) const {
  const PickleNode* node = tree_.root;
  std::string at;  // the path walked so far
  std::string_view rest = select;
  while (!rest.empty()) {
    if (node->kind != Kind::kDict) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": --select ", std::string(select),
                                                     ": '", at, "' is a ",
                                                     PickleKindName(node->kind), ", not a dict"));
    }
    // A key may itself contain dots: the whole remaining path is tried before one component.
    const PickleNode* next = nullptr;
    std::string_view used;
    for (const std::string_view candidate : {rest, rest.substr(0, rest.find('.'))}) {
      for (const auto& [k, v] : node->entries) {
        if (KeyText(k) == candidate) {
          next = v;
          used = candidate;
          break;
        }
      }
      if (next != nullptr) break;
    }
    if (next == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": --select ", std::string(select), ": no key '",
                       std::string(rest.substr(0, rest.find('.'))), "' ",
                       at.empty() ? "at the top level" : absl::StrCat("under '", at, "'"),
                       "; the keys there: ", ListKeys(node)));
    }
    at = Join(at, std::string(used));
    rest.remove_prefix(used.size());
    if (!rest.empty() && rest.front() == '.') rest.remove_prefix(1);
    node = next;
  }
  if (select.empty() && node->kind == Kind::kDict) {
    // A training checkpoint ({'generator': {...}, 'optimizer': {...}, 'steps': 5}) holds its
    // weights one level down, next to other state: make the user say which one.
    std::vector<std::string> nested;
    for (const auto& [k, v] : node->entries) {
      if (v->kind == Kind::kTensor) continue;
      std::set<const PickleNode*> seen;
      if (const size_t n = CountTensors(v, 0, &seen); n > 0) {
        nested.push_back(absl::StrCat("'", KeyText(k), "' (", n, " tensors)"));
      }
    }
    if (!nested.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": the tensors are nested under top-level keys ", absl::StrJoin(nested, ", "),
          "; choose one with --select KEY (top-level keys: ", ListKeys(node), ")"));
    }
  }
  if (node->kind != Kind::kDict && node->kind != Kind::kList && node->kind != Kind::kTuple) {
    const std::string what = node->kind == Kind::kOpaque
                                 ? absl::StrCat(node->text, " (data.pkl byte ", node->offset,
                                                "), which ovid does not read")
                                 : absl::StrCat("of type ", PickleKindName(node->kind));
    // Without --select the object is the file's whole pickle (a bare torch.save(tensor)).
    return absl::InvalidArgumentError(
        select.empty() ? absl::StrCat(path_, ": the file holds one object ", what,
                                      ", not a dict of tensors (a state dict)")
                       : absl::StrCat(path_, ": --select ", std::string(select), ": '", at, "' is ",
                                      what, ", not a dict of tensors"));
  }
  Flattener flat(path_, storage_bytes_, MaxVisits(tree_));
  OVID_RETURN_IF_ERROR(flat.Walk(node, "", 0));
  if (skipped != nullptr) *skipped = flat.skipped_;
  return std::move(flat.tensors);
}

std::span<const uint8_t> PthFile::Contiguous(const PthTensor& t, std::vector<uint8_t>* scratch) {
  const size_t es = StDtypeBytes(t.dtype);
  if (t.numel == 0) return {};  // its offset need not lie inside an empty storage
  if (t.contiguous()) return t.storage.subspan(t.storage_offset * es, t.nbytes());
  // Gather element by element in row-major order (a transposed weight is rare: torch.save of
  // a state dict keeps each parameter's own layout, which is almost always contiguous).
  scratch->resize(t.nbytes());
  const size_t rank = t.shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t src = t.storage_offset;
  for (int64_t i = 0; i < t.numel; ++i) {
    std::memcpy(scratch->data() + i * es, t.storage.data() + src * es, es);
    for (size_t d = rank; d-- > 0;) {
      src += t.strides[d];
      if (++index[d] < t.shape[d]) break;
      src -= t.strides[d] * t.shape[d];
      index[d] = 0;
    }
  }
  return *scratch;
}

}  // namespace ovid::gguf
