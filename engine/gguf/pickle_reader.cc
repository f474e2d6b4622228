// File: engine/gguf/pickle_reader.cc
// Opcode values and argument encodings are Python's (Lib/pickletools.py documents each one).
// Nothing here imports or calls anything: REDUCE of a recognised torch rebuild function builds a
// tensor leaf from its arguments, of OrderedDict an empty dict; REDUCE of anything else yields an
// opaque value.
#include "engine/gguf/pickle_reader.h"

#include <cstring>
#include <string_view>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ovid::gguf {
namespace {

using Kind = PickleNode::Kind;

// The storage classes torch.save names in its persistent ids, and their element types.
struct StorageClass {
  const char* name;
  std::optional<StDtype> dtype;  // nullopt: a torch dtype ovid does not convert
};
constexpr StorageClass kStorageClasses[] = {
    {"torch.FloatStorage", StDtype::kF32},
    {"torch.DoubleStorage", StDtype::kF64},
    {"torch.HalfStorage", StDtype::kF16},
    {"torch.BFloat16Storage", StDtype::kBF16},
    {"torch.LongStorage", StDtype::kI64},
    {"torch.IntStorage", StDtype::kI32},
    {"torch.ShortStorage", StDtype::kI16},
    {"torch.CharStorage", StDtype::kI8},
    {"torch.ByteStorage", StDtype::kU8},
    {"torch.BoolStorage", StDtype::kBool},
    {"torch.Float8_e4m3fnStorage", StDtype::kF8E4M3},
    {"torch.Float8_e5m2Storage", StDtype::kF8E5M2},
    {"torch.ComplexFloatStorage", std::nullopt},
    {"torch.ComplexDoubleStorage", std::nullopt},
    {"torch.QInt8Storage", std::nullopt},
    {"torch.QUInt8Storage", std::nullopt},
    {"torch.QInt32Storage", std::nullopt},
};

const StorageClass* FindStorageClass(std::string_view name) {
  for (const StorageClass& c : kStorageClasses) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

// Functions and classes whose meaning ovid knows (interpreted, never called).
constexpr const char* kKnownGlobals[] = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._tensor._rebuild_from_type_v2",
    "torch.Tensor",
    "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout",
    "torch.strided",
};

// Modules no checkpoint has a reason to name: a pickle that does is an attempt to run code.
constexpr const char* kDeniedModules[] = {
    "os",     "posix",  "nt",       "subprocess", "sys",    "importlib", "runpy",
    "shutil", "socket", "pickle",   "marshal",    "ctypes", "pty",       "webbrowser",
    "code",   "codeop", "operator", "commands",   "pip",    "asyncio",   "multiprocessing",
};
constexpr const char* kDeniedBuiltins[] = {
    "eval",    "exec",     "compile", "open",       "__import__", "getattr",
    "setattr", "delattr",  "input",   "breakpoint", "globals",    "locals",
    "vars",    "execfile", "apply",   "exit",       "quit",
};

bool Denied(std::string_view module, std::string_view name) {
  const std::string_view top = module.substr(0, module.find('.'));
  for (const char* m : kDeniedModules) {
    if (top == m) return true;
  }
  if (module == "builtins" || module == "__builtin__") {
    for (const char* b : kDeniedBuiltins) {
      if (name == b) return true;
    }
  }
  return false;
}

bool Known(std::string_view full) {
  for (const char* g : kKnownGlobals) {
    if (full == g) return true;
  }
  return FindStorageClass(full) != nullptr;
}

constexpr int kMaxApplyDepth = 4;  // _rebuild_from_type_v2 wraps one rebuild function
// Objects one pickle may build. A one-byte opcode makes a node of a few hundred bytes, so a 4 MB
// pickle of empty lists took 1 GB; a state dict needs about 20 nodes a tensor, so this allows
// ~50,000 tensors (Ovi's whole checkpoint has ~2,100) in at most a few hundred MB.
constexpr size_t kMaxNodes = size_t{1} << 20;

class Unpickler {
 public:
  Unpickler(std::string name, std::span<const uint8_t> bytes) : name_(std::move(name)), b_(bytes) {}

  absl::StatusOr<PickleTree> Run() {
    while (true) {
      if (pos_ >= b_.size()) return Error(pos_, "the pickle ends without a STOP opcode");
      op_at_ = pos_;
      const uint8_t op = b_[pos_++];
      absl::Status s = Step(op);
      if (!s.ok()) return s;
      if (stopped_) break;
      if (tree_.arena.size() > kMaxNodes) {
        return absl::ResourceExhaustedError(
            absl::StrCat(name_, ": byte ", op_at_, ": more than ", kMaxNodes,
                         " objects; not a state dict ovid reads (a pickle bomb?)"));
      }
    }
    if (stack_.size() != 1 || !marks_.empty()) {
      return Error(op_at_, absl::StrCat("STOP with ", stack_.size(), " values and ", marks_.size(),
                                        " marks on the stack (expected one value)"));
    }
    tree_.root = stack_.back();
    return std::move(tree_);
  }

 private:
  absl::Status Error(uint64_t at, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": byte ", at, ": ", what));
  }
  absl::Status OpError(const std::string& what) const {
    return Error(op_at_, absl::StrCat("opcode 0x", absl::Hex(b_[op_at_], absl::kZeroPad2), " ('",
                                      OpName(b_[op_at_]), "'): ", what));
  }
  static const char* OpName(uint8_t op) {
    switch (op) {
      case 0x80:
        return "PROTO";
      case 0x95:
        return "FRAME";
      case '}':
        return "EMPTY_DICT";
      case ']':
        return "EMPTY_LIST";
      case ')':
        return "EMPTY_TUPLE";
      case '(':
        return "MARK";
      case 't':
        return "TUPLE";
      case 0x85:
        return "TUPLE1";
      case 0x86:
        return "TUPLE2";
      case 0x87:
        return "TUPLE3";
      case 'q':
        return "BINPUT";
      case 'r':
        return "LONG_BINPUT";
      case 0x94:
        return "MEMOIZE";
      case 'h':
        return "BINGET";
      case 'j':
        return "LONG_BINGET";
      case 'J':
        return "BININT";
      case 'K':
        return "BININT1";
      case 'M':
        return "BININT2";
      case 0x8a:
        return "LONG1";
      case 'G':
        return "BINFLOAT";
      case 'X':
        return "BINUNICODE";
      case 0x8c:
        return "SHORT_BINUNICODE";
      case 0x8d:
        return "BINUNICODE8";
      case 'C':
        return "SHORT_BINBYTES";
      case 'B':
        return "BINBYTES";
      case 'N':
        return "NONE";
      case 0x88:
        return "NEWTRUE";
      case 0x89:
        return "NEWFALSE";
      case 's':
        return "SETITEM";
      case 'u':
        return "SETITEMS";
      case 'a':
        return "APPEND";
      case 'e':
        return "APPENDS";
      case 'c':
        return "GLOBAL";
      case 0x93:
        return "STACK_GLOBAL";
      case 'R':
        return "REDUCE";
      case 'b':
        return "BUILD";
      case 'Q':
        return "BINPERSID";
      case 0x81:
        return "NEWOBJ";
      case '.':
        return "STOP";
      case '0':
        return "POP";
      case '1':
        return "POP_MARK";
      case '2':
        return "DUP";
      case 'l':
        return "LIST";
      case 'd':
        return "DICT";
      default:
        return "unsupported";
    }
  }

  absl::StatusOr<uint64_t> Arg(int n) {
    if (b_.size() - pos_ < static_cast<uint64_t>(n)) {
      return OpError(absl::StrCat("its ", n, "-byte argument runs past the end (truncated?)"));
    }
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b_[pos_ + i];
    pos_ += n;
    return v;
  }
  absl::StatusOr<std::string> Bytes(uint64_t n) {
    if (b_.size() - pos_ < n) {
      return OpError(absl::StrCat("its ", n, "-byte string runs past the end (truncated?)"));
    }
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  absl::StatusOr<std::string> Line() {
    for (uint64_t i = pos_; i < b_.size(); ++i) {
      if (b_[i] == '\n') {
        std::string s(reinterpret_cast<const char*>(b_.data() + pos_), i - pos_);
        pos_ = i + 1;
        return s;
      }
    }
    return OpError("its text argument has no end of line (truncated?)");
  }

  PickleNode* New(Kind kind) {
    PickleNode& n = tree_.arena.emplace_back();
    n.kind = kind;
    n.offset = op_at_;
    return &n;
  }
  absl::StatusOr<PickleNode*> Pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      return OpError("needs a value but the stack is empty");
    }
    PickleNode* n = stack_.back();
    stack_.pop_back();
    return n;
  }
  absl::StatusOr<PickleNode*> Top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      return OpError("needs a value but the stack is empty");
    }
    return stack_.back();
  }
  // The values above the topmost mark, which is removed.
  absl::StatusOr<std::vector<PickleNode*>> PopMark() {
    if (marks_.empty()) return OpError("needs a MARK but there is none");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleNode*> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  absl::Status Memo(uint64_t index) {
    if (stack_.empty()) return OpError("memoizes a value but the stack is empty");
    memo_[index] = stack_.back();
    return absl::OkStatus();
  }
  absl::Status Get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return OpError(absl::StrCat("memo entry ", index, " was never stored"));
    stack_.push_back(it->second);
    return absl::OkStatus();
  }
  PickleNode* Tuple(std::vector<PickleNode*> items) {
    PickleNode* t = New(Kind::kTuple);
    t->items = std::move(items);
    return t;
  }
  PickleNode* Opaque(std::string what) {
    PickleNode* n = New(Kind::kOpaque);
    n->text = std::move(what);
    return n;
  }
  absl::Status SetItems(PickleNode* target, const std::vector<PickleNode*>& kv) {
    if (kv.size() % 2 != 0) return OpError("an odd number of keys and values");
    if (target->kind == Kind::kOpaque) return absl::OkStatus();  // its state is not needed
    if (target->kind != Kind::kDict) {
      return OpError(absl::StrCat("sets items on a ", PickleKindName(target->kind)));
    }
    for (size_t i = 0; i < kv.size(); i += 2) target->entries.emplace_back(kv[i], kv[i + 1]);
    return absl::OkStatus();
  }
  absl::Status Append(PickleNode* target, const std::vector<PickleNode*>& items) {
    if (target->kind == Kind::kOpaque) return absl::OkStatus();
    if (target->kind != Kind::kList) {
      return OpError(absl::StrCat("appends to a ", PickleKindName(target->kind)));
    }
    target->items.insert(target->items.end(), items.begin(), items.end());
    return absl::OkStatus();
  }

  absl::Status PushGlobal(const std::string& module, const std::string& name) {
    const std::string full = absl::StrCat(module, ".", name);
    if (Denied(module, name)) {
      return OpError(absl::StrCat("refusing global '", full,
                                  "': a checkpoint has no reason to reference it (the file may be "
                                  "trying to run code); nothing was executed"));
    }
    PickleNode* n = Known(full) ? New(Kind::kGlobal) : Opaque(full);
    n->text = full;
    stack_.push_back(n);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<int64_t>> IntTuple(const PickleNode* n, const char* what) {
    if (n->kind != Kind::kTuple && n->kind != Kind::kList) {
      return OpError(
          absl::StrCat("tensor ", what, " is a ", PickleKindName(n->kind), ", not a tuple"));
    }
    std::vector<int64_t> out;
    for (const PickleNode* i : n->items) {
      if (i->kind != Kind::kInt || i->integer < 0) {
        return OpError(absl::StrCat("tensor ", what, " holds a ", PickleKindName(i->kind),
                                    i->kind == Kind::kInt ? " below zero" : "",
                                    " where a size is expected"));
      }
      out.push_back(i->integer);
    }
    return out;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])
  absl::StatusOr<PickleNode*> RebuildTensor(const std::vector<PickleNode*>& a) {
    if (a.size() < 4) {
      return OpError(absl::StrCat("_rebuild_tensor_v2 with ", a.size(), " arguments (needs 4+)"));
    }
    if (a[0]->kind != Kind::kStorage) {
      return OpError(
          absl::StrCat("_rebuild_tensor_v2 of a ", PickleKindName(a[0]->kind), ", not a storage"));
    }
    if (a[1]->kind != Kind::kInt || a[1]->integer < 0) {
      return OpError("_rebuild_tensor_v2: the storage offset is not an integer >= 0");
    }
    PickleNode* t = New(Kind::kTensor);
    t->storage = a[0];
    t->dtype = a[0]->dtype;
    t->storage_class = a[0]->storage_class;
    t->storage_offset = a[1]->integer;
    auto shape = IntTuple(a[2], "size");
    if (!shape.ok()) return shape.status();
    auto strides = IntTuple(a[3], "stride");
    if (!strides.ok()) return strides.status();
    if (shape->size() != strides->size()) {
      return OpError(absl::StrCat("_rebuild_tensor_v2: ", shape->size(), " sizes but ",
                                  strides->size(), " strides"));
    }
    t->shape = *std::move(shape);
    t->strides = *std::move(strides);
    return t;
  }

  absl::StatusOr<PickleNode*> Apply(PickleNode* callable, PickleNode* args, int depth) {
    if (callable->kind == Kind::kOpaque) {
      return Opaque(absl::StrCat(callable->text, " object"));
    }
    if (callable->kind != Kind::kGlobal) {
      return OpError(absl::StrCat("calls a ", PickleKindName(callable->kind)));
    }
    if (args->kind != Kind::kTuple) {
      return OpError(absl::StrCat("the arguments of ", callable->text, " are a ",
                                  PickleKindName(args->kind), ", not a tuple"));
    }
    const std::string& f = callable->text;
    const std::vector<PickleNode*>& a = args->items;
    if (f == "collections.OrderedDict") {
      PickleNode* d = New(Kind::kDict);
      if (!a.empty() && a[0]->kind == Kind::kList) {  // OrderedDict([(k, v), ...])
        for (const PickleNode* pair : a[0]->items) {
          if (pair->kind != Kind::kTuple || pair->items.size() != 2) {
            return OpError("OrderedDict of something other than (key, value) pairs");
          }
          d->entries.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return d;
    }
    if (f == "torch._utils._rebuild_tensor_v2") return RebuildTensor(a);
    if (f == "torch._utils._rebuild_parameter" ||
        f == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty()) return OpError(absl::StrCat(f, " without arguments"));
      return a[0];  // a Parameter is its data; requires_grad and hooks do not matter here
    }
    if (f == "torch._tensor._rebuild_from_type_v2") {
      // (func, type, args, state): the tensor is func(*args); its Python type and attributes
      // (a Parameter, a subclass) do not change the data.
      if (a.size() < 3) return OpError("_rebuild_from_type_v2 with fewer than 3 arguments");
      if (depth >= kMaxApplyDepth) return OpError("rebuild functions nested too deeply");
      return Apply(a[0], a[2], depth + 1);
    }
    return Opaque(absl::StrCat(f, "(...)"));
  }

  // ('storage', torch.XStorage, key, location, numel)
  absl::StatusOr<PickleNode*> PersistentLoad(PickleNode* pid) {
    if (pid->kind != Kind::kTuple || pid->items.size() < 5 || pid->items[0]->kind != Kind::kStr ||
        pid->items[0]->text != "storage") {
      return OpError("a persistent id that is not ('storage', type, key, location, numel)");
    }
    const PickleNode* type = pid->items[1];
    const StorageClass* cls = type->kind == Kind::kGlobal ? FindStorageClass(type->text) : nullptr;
    if (cls == nullptr) {
      return OpError(absl::StrCat("a storage of type '", type->text, "', not a torch.*Storage"));
    }
    if (pid->items[2]->kind != Kind::kStr || pid->items[4]->kind != Kind::kInt ||
        pid->items[4]->integer < 0) {
      return OpError("a storage whose key is not a string or whose size is not an integer >= 0");
    }
    PickleNode* s = New(Kind::kStorage);
    s->dtype = cls->dtype;
    s->storage_class = cls->name;
    s->text = pid->items[2]->text;
    s->numel = pid->items[4]->integer;
    tree_.storages.push_back(s);
    return s;
  }

  absl::Status Push(absl::StatusOr<PickleNode*> n) {
    if (!n.ok()) return n.status();
    stack_.push_back(*n);
    return absl::OkStatus();
  }

  absl::Status Step(uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        auto v = Arg(1);
        if (!v.ok()) return v.status();
        if (*v > 5) return OpError(absl::StrCat("pickle protocol ", *v, " is unknown"));
        return absl::OkStatus();
      }
      case 0x95:  // FRAME: a length hint only
        return Arg(8).status();
      case '.':
        stopped_ = true;
        return absl::OkStatus();
      case '(':
        marks_.push_back(stack_.size());
        return absl::OkStatus();
      case '}':
        stack_.push_back(New(Kind::kDict));
        return absl::OkStatus();
      case ']':
        stack_.push_back(New(Kind::kList));
        return absl::OkStatus();
      case ')':
        stack_.push_back(Tuple({}));
        return absl::OkStatus();
      case 'N':
        stack_.push_back(New(Kind::kNone));
        return absl::OkStatus();
      case 0x88:
      case 0x89: {
        PickleNode* n = New(Kind::kBool);
        n->boolean = op == 0x88;
        stack_.push_back(n);
        return absl::OkStatus();
      }
      case 0x85:
      case 0x86:
      case 0x87: {
        const size_t n = op - 0x84;
        std::vector<PickleNode*> items(n);
        for (size_t i = n; i-- > 0;) {
          auto v = Pop();
          if (!v.ok()) return v.status();
          items[i] = *v;
        }
        stack_.push_back(Tuple(std::move(items)));
        return absl::OkStatus();
      }
      case 't':
      case 'l': {
        auto items = PopMark();
        if (!items.ok()) return items.status();
        PickleNode* n = op == 't' ? Tuple(*std::move(items)) : New(Kind::kList);
        if (op == 'l') n->items = *std::move(items);
        stack_.push_back(n);
        return absl::OkStatus();
      }
      case 'd': {
        auto items = PopMark();
        if (!items.ok()) return items.status();
        PickleNode* d = New(Kind::kDict);
        stack_.push_back(d);
        return SetItems(d, *items);
      }
      case 'q':
      case 'r': {
        auto v = Arg(op == 'q' ? 1 : 4);
        return v.ok() ? Memo(*v) : v.status();
      }
      case 0x94:
        return Memo(memo_.size());
      case 'h':
      case 'j': {
        auto v = Arg(op == 'h' ? 1 : 4);
        return v.ok() ? Get(*v) : v.status();
      }
      case 'K':
      case 'M':
      case 'J': {
        auto v = Arg(op == 'K' ? 1 : op == 'M' ? 2 : 4);
        if (!v.ok()) return v.status();
        PickleNode* n = New(Kind::kInt);
        n->integer = op == 'J' ? static_cast<int32_t>(*v) : static_cast<int64_t>(*v);
        stack_.push_back(n);
        return absl::OkStatus();
      }
      case 0x8a: {  // LONG1: n bytes of little-endian two's complement
        auto len = Arg(1);
        if (!len.ok()) return len.status();
        if (*len > 8)
          return OpError(absl::StrCat("a ", *len, "-byte integer (at most 8 are read)"));
        auto v = *len == 0 ? absl::StatusOr<uint64_t>(0) : Arg(static_cast<int>(*len));
        if (!v.ok()) return v.status();
        uint64_t x = *v;
        if (*len > 0 && *len < 8 && (x >> (8 * *len - 1)) & 1) x |= ~uint64_t{0} << (8 * *len);
        PickleNode* n = New(Kind::kInt);
        n->integer = static_cast<int64_t>(x);
        stack_.push_back(n);
        return absl::OkStatus();
      }
      case 'G': {  // BINFLOAT: big-endian double
        if (b_.size() - pos_ < 8) return OpError("its 8-byte argument runs past the end");
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | b_[pos_ + i];
        pos_ += 8;
        PickleNode* n = New(Kind::kFloat);
        std::memcpy(&n->real, &bits, 8);
        stack_.push_back(n);
        return absl::OkStatus();
      }
      case 'X':
      case 0x8c:
      case 0x8d:
      case 'C':
      case 'B': {
        const int width = (op == 0x8c || op == 'C') ? 1 : op == 0x8d ? 8 : 4;
        auto len = Arg(width);
        if (!len.ok()) return len.status();
        auto s = Bytes(*len);
        if (!s.ok()) return s.status();
        PickleNode* n = New(op == 'C' || op == 'B' ? Kind::kBytes : Kind::kStr);
        n->text = *std::move(s);
        stack_.push_back(n);
        return absl::OkStatus();
      }
      case 's': {
        auto v = Pop();
        if (!v.ok()) return v.status();
        auto k = Pop();
        if (!k.ok()) return k.status();
        auto d = Top();
        if (!d.ok()) return d.status();
        return SetItems(*d, {*k, *v});
      }
      case 'u':
      case 'e': {
        auto items = PopMark();
        if (!items.ok()) return items.status();
        auto target = Top();
        if (!target.ok()) return target.status();
        return op == 'u' ? SetItems(*target, *items) : Append(*target, *items);
      }
      case 'a': {
        auto v = Pop();
        if (!v.ok()) return v.status();
        auto target = Top();
        if (!target.ok()) return target.status();
        return Append(*target, {*v});
      }
      case 'c': {
        auto module = Line();
        if (!module.ok()) return module.status();
        auto name = Line();
        if (!name.ok()) return name.status();
        return PushGlobal(*module, *name);
      }
      case 0x93: {
        auto name = Pop();
        if (!name.ok()) return name.status();
        auto module = Pop();
        if (!module.ok()) return module.status();
        if ((*name)->kind != Kind::kStr || (*module)->kind != Kind::kStr) {
          return OpError("module and name are not strings");
        }
        return PushGlobal((*module)->text, (*name)->text);
      }
      case 'R':
      case 0x81: {  // REDUCE: f(*args); NEWOBJ: cls.__new__(cls, *args)
        auto args = Pop();
        if (!args.ok()) return args.status();
        auto f = Pop();
        if (!f.ok()) return f.status();
        if (op == 0x81 && (*f)->kind == Kind::kGlobal && (*f)->text != "collections.OrderedDict") {
          return Push(Opaque(absl::StrCat((*f)->text, " object")));
        }
        return Push(Apply(*f, *args, 0));
      }
      case 'b': {  // BUILD: obj.__setstate__(state). Dict/tensor state (an OrderedDict's
                   // _metadata, a tensor's attributes) does not change the data: dropped.
        auto state = Pop();
        if (!state.ok()) return state.status();
        return Top().status();
      }
      case 'Q': {
        auto pid = Pop();
        if (!pid.ok()) return pid.status();
        return Push(PersistentLoad(*pid));
      }
      case '0':
        return Pop().status();
      case '1':
        return PopMark().status();
      case '2': {
        auto v = Top();
        if (!v.ok()) return v.status();
        stack_.push_back(*v);
        return absl::OkStatus();
      }
      default:
        return OpError("this opcode is not supported by ovid's restricted unpickler");
    }
  }

  std::string name_;
  std::span<const uint8_t> b_;
  uint64_t pos_ = 0;
  uint64_t op_at_ = 0;
  bool stopped_ = false;
  PickleTree tree_;
  std::vector<PickleNode*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleNode*> memo_;
};

}  // namespace

const char* PickleKindName(PickleNode::Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kStr:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global";
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
    case Kind::kOpaque:
      return "object";
  }
  return "?";
}

absl::StatusOr<PickleTree> ReadPickle(std::string name, std::span<const uint8_t> bytes) {
  return Unpickler(std::move(name), bytes).Run();
}

}  // namespace ovid::gguf
