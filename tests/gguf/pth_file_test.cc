// PthFile, ZipArchive and the restricted unpickler on archives and pickles built byte by byte
// here: a valid state dict parses into views of the buffer, ZIP64 records (which only an
// archive past 4 GiB would need torch to write) are followed, and every corrupt or hostile
// input fails with an error naming the file, the place and the problem. The Python tests
// (tests/tools/test_convert_pth.py) cover files written by real torch.save.
#include "engine/gguf/pth_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ovid::gguf {
namespace {

using ::testing::HasSubstr;

constexpr char kName[] = "model.pth";

void Put(std::string* out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out->push_back(i < 8 ? static_cast<char>(v >> (8 * i)) : '\0');
}

struct Entry {
  std::string name;
  std::string data;
  uint16_t method = 0;
};

// A zip archive of stored entries. zip64: every size and offset field saturated and carried in
// ZIP64 extra fields, plus the ZIP64 end-of-central-directory record and locator.
std::vector<uint8_t> Zip(const std::vector<Entry>& entries, bool zip64 = false) {
  std::string out, central;
  for (const Entry& e : entries) {
    const uint64_t offset = out.size();
    Put(&out, 0x04034b50, 4);
    Put(&out, 45, 2);
    Put(&out, 0, 2);
    Put(&out, e.method, 2);
    Put(&out, 0, 8);  // time, date, crc
    Put(&out, zip64 ? 0xffffffff : e.data.size(), 4);
    Put(&out, zip64 ? 0xffffffff : e.data.size(), 4);
    Put(&out, e.name.size(), 2);
    Put(&out, zip64 ? 20 : 0, 2);
    out += e.name;
    if (zip64) {
      Put(&out, 1, 2);
      Put(&out, 16, 2);
      Put(&out, e.data.size(), 8);
      Put(&out, e.data.size(), 8);
    }
    out += e.data;

    Put(&central, 0x02014b50, 4);
    Put(&central, 45, 2);
    Put(&central, 45, 2);
    Put(&central, 0, 2);
    Put(&central, e.method, 2);
    Put(&central, 0, 8);
    Put(&central, zip64 ? 0xffffffff : e.data.size(), 4);
    Put(&central, zip64 ? 0xffffffff : e.data.size(), 4);
    Put(&central, e.name.size(), 2);
    Put(&central, zip64 ? 28 : 0, 2);
    Put(&central, 0, 10);  // comment length, disk, internal and external attributes
    Put(&central, zip64 ? 0xffffffff : offset, 4);
    central += e.name;
    if (zip64) {
      Put(&central, 1, 2);
      Put(&central, 24, 2);
      Put(&central, e.data.size(), 8);
      Put(&central, e.data.size(), 8);
      Put(&central, offset, 8);
    }
  }
  const uint64_t cd_offset = out.size();
  out += central;
  if (zip64) {
    const uint64_t record = out.size();
    Put(&out, 0x06064b50, 4);
    Put(&out, 44, 8);
    Put(&out, 45, 2);
    Put(&out, 45, 2);
    Put(&out, 0, 8);
    Put(&out, entries.size(), 8);
    Put(&out, entries.size(), 8);
    Put(&out, central.size(), 8);
    Put(&out, cd_offset, 8);
    Put(&out, 0x07064b50, 4);
    Put(&out, 0, 4);
    Put(&out, record, 8);
    Put(&out, 1, 4);
  }
  Put(&out, 0x06054b50, 4);
  Put(&out, 0, 4);
  Put(&out, zip64 ? 0xffff : entries.size(), 2);
  Put(&out, zip64 ? 0xffff : entries.size(), 2);
  Put(&out, zip64 ? 0xffffffff : central.size(), 4);
  Put(&out, zip64 ? 0xffffffff : cd_offset, 4);
  Put(&out, 0, 2);
  return {out.begin(), out.end()};
}

// Pickle pieces, as torch.save writes them (protocol 2).
std::string Str(const std::string& s) {
  std::string out = "X";
  Put(&out, s.size(), 4);
  return out + s;
}
std::string Int(int64_t v) {
  if (v < INT32_MIN || v > INT32_MAX) {  // LONG1: 8 bytes of little-endian two's complement
    std::string out = "\x8a\x08";
    Put(&out, static_cast<uint64_t>(v), 8);
    return out;
  }
  std::string out = "J";
  Put(&out, static_cast<uint64_t>(v), 4);
  return out;
}
std::string IntTuple(const std::vector<int64_t>& v) {
  std::string out = "(";
  for (int64_t x : v) out += Int(x);
  return out + "t";
}
// _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, shape, strides,
//                    False, OrderedDict())
std::string Tensor(const std::string& cls, const std::string& key, int64_t numel, int64_t offset,
                   const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  return "ctorch._utils\n_rebuild_tensor_v2\n((" + Str("storage") + "ctorch\n" + cls + "\n" +
         Str(key) + Str("cpu") + Int(numel) + "tQ" + Int(offset) + IntTuple(shape) +
         IntTuple(strides) + "\x89" + "ccollections\nOrderedDict\n)RtR";
}
// {key: value, ...} from already-pickled values, closed with STOP.
std::string Dict(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out = "\x80\x02}(";
  for (const auto& [k, v] : items) out += Str(k) + v;
  return out + "u.";
}

std::string Floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

std::vector<uint8_t> Archive(const std::string& pickle, const std::vector<Entry>& storages,
                             bool zip64 = false, const std::string& byteorder = "little") {
  std::vector<Entry> entries = {{"model/data.pkl", pickle}, {"model/byteorder", byteorder}};
  for (const Entry& s : storages) entries.push_back({"model/data/" + s.name, s.data, s.method});
  entries.push_back({"model/version", "3\n"});
  return Zip(entries, zip64);
}

absl::Status OpenError(const std::vector<uint8_t>& bytes) {
  auto file = PthFile::FromBuffer(kName, bytes);
  EXPECT_FALSE(file.ok());
  return file.ok() ? absl::OkStatus() : file.status();
}

absl::Status TensorsError(const std::vector<uint8_t>& bytes, std::string_view select = "") {
  auto file = PthFile::FromBuffer(kName, bytes);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return file.status();
  auto tensors = (*file)->Tensors(select);
  EXPECT_FALSE(tensors.ok());
  return tensors.ok() ? absl::OkStatus() : tensors.status();
}

const std::vector<float> kSix = {0, 1, 2, 3, 4, 5};

TEST(PthFileTest, StateDictTensorsAreViewsOfTheArchive) {
  for (bool zip64 : {false, true}) {
    const std::vector<uint8_t> bytes =
        Archive(Dict({{"a.w", Tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1})},
                      {"a.b", Tensor("FloatStorage", "0", 6, 4, {2}, {1})}}),
                {{"0", Floats(kSix)}}, zip64);
    auto file = PthFile::FromBuffer(kName, bytes);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ((*file)->archive(), "model");
    size_t skipped = 7;
    auto tensors = (*file)->Tensors("", &skipped);
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    EXPECT_EQ(skipped, 0u);
    ASSERT_EQ(tensors->size(), 2u);
    const PthTensor& w = (*tensors)[0];
    EXPECT_EQ(w.name, "a.w");
    EXPECT_EQ(w.dtype, StDtype::kF32);
    EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_TRUE(w.contiguous());
    std::vector<uint8_t> scratch;
    std::span<const uint8_t> data = PthFile::Contiguous(w, &scratch);
    EXPECT_TRUE(scratch.empty());  // a view, not a copy
    EXPECT_GE(data.data(), bytes.data());
    EXPECT_LT(data.data(), bytes.data() + bytes.size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(data.data()), data.size()), Floats(kSix));
    // Shared storage at an element offset.
    const PthTensor& b = (*tensors)[1];
    data = PthFile::Contiguous(b, &scratch);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(data.data()), data.size()), Floats({4, 5}));
  }
}

TEST(PthFileTest, NonContiguousTensorsAreGathered) {
  // The transpose of a 2x3 matrix: shape [3, 2], strides [1, 3].
  const std::vector<uint8_t> bytes = Archive(
      Dict({{"t", Tensor("FloatStorage", "0", 6, 0, {3, 2}, {1, 3})}}), {{"0", Floats(kSix)}});
  auto file = PthFile::FromBuffer(kName, bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  auto tensors = (*file)->Tensors("");
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_FALSE((*tensors)[0].contiguous());
  std::vector<uint8_t> scratch;
  std::span<const uint8_t> data = PthFile::Contiguous((*tensors)[0], &scratch);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(data.data()), data.size()),
            Floats({0, 3, 1, 4, 2, 5}));
}

TEST(PthFileTest, Zip64RecordsWithoutTheirExtraFieldFail) {
  std::vector<uint8_t> bytes = Archive(Dict({}), {}, /*zip64=*/true);
  // Rename the first central record's ZIP64 extra id (0x0001) to an unknown one.
  const std::string cd_sig = "PK\x01\x02";
  auto it = std::search(bytes.begin(), bytes.end(), cd_sig.begin(), cd_sig.end());
  ASSERT_NE(it, bytes.end());
  const size_t rec = it - bytes.begin();
  const size_t name_len = bytes[rec + 28] | (bytes[rec + 29] << 8);
  bytes[rec + 46 + name_len] = 0x99;
  const absl::Status s = OpenError(bytes);
  EXPECT_THAT(s.ToString(), HasSubstr(kName));
  EXPECT_THAT(s.ToString(), HasSubstr("'model/data.pkl'"));
  EXPECT_THAT(s.ToString(), HasSubstr("no ZIP64 extra field"));
}

TEST(PthFileTest, TruncatedAndMisplacedArchivesFail) {
  const std::vector<uint8_t> good =
      Archive(Dict({{"w", Tensor("FloatStorage", "0", 6, 0, {6}, {1})}}), {{"0", Floats(kSix)}});
  std::vector<uint8_t> cut(good.begin(), good.begin() + good.size() / 2);
  EXPECT_THAT(OpenError(cut).ToString(), HasSubstr("no end-of-central-directory record"));
  EXPECT_THAT(OpenError({'P', 'K', 3, 4}).ToString(), HasSubstr("too short"));
  // The EOCD claims a central directory beyond the end of the file.
  std::vector<uint8_t> moved = good;
  moved[moved.size() - 6] = 0xff;  // cd offset, high byte area
  moved[moved.size() - 5] = 0x7f;
  const absl::Status s = OpenError(moved);
  EXPECT_THAT(s.ToString(), HasSubstr(kName));
  EXPECT_THAT(s.ToString(), HasSubstr("central directory"));
  EXPECT_THAT(s.ToString(), HasSubstr("at byte"));
}

TEST(PthFileTest, CompressedAndMissingRecordsAreNamed) {
  const std::string pickle = Dict({{"w", Tensor("FloatStorage", "0", 6, 0, {6}, {1})}});
  Entry deflated{"0", Floats(kSix), 8};
  absl::Status s = OpenError(Archive(pickle, {deflated}));
  EXPECT_THAT(s.ToString(), HasSubstr("'model/data/0' is compressed (method 8, deflate)"));
  s = OpenError(Archive(pickle, {}));
  EXPECT_THAT(s.ToString(), HasSubstr("storage '0'"));
  EXPECT_THAT(s.ToString(), HasSubstr("has no record model/data/0"));
  s = OpenError(Archive(pickle, {{"0", Floats({1, 2})}}));
  EXPECT_THAT(s.ToString(), HasSubstr("holds 8 bytes"));
  EXPECT_THAT(s.ToString(), HasSubstr("6 elements = 24 bytes"));
  s = OpenError(Archive(pickle, {{"0", Floats(kSix)}}, false, "big"));
  EXPECT_THAT(s.ToString(), HasSubstr("byteorder is 'big'"));
  s = OpenError(Zip({{"other/file.txt", "x"}}));
  EXPECT_THAT(s.ToString(), HasSubstr("without an <archive>/data.pkl record"));
}

TEST(PthFileTest, ViewsOutsideTheirStorageFail) {
  const std::vector<uint8_t> bytes = Archive(
      Dict({{"w", Tensor("FloatStorage", "0", 6, 2, {2, 3}, {3, 1})}}), {{"0", Floats(kSix)}});
  const absl::Status s = TensorsError(bytes);
  EXPECT_THAT(s.ToString(), HasSubstr("tensor 'w'"));
  EXPECT_THAT(s.ToString(), HasSubstr("reaches element 7 of storage '0', which has 6"));
}

// A storage claiming 2^62 float elements once wrapped its byte count to 0, so a 16-byte record
// passed the size check and views read past it (a segfault in ovid-gguf convert).
TEST(PthFileTest, AStorageWhoseByteCountWouldOverflowIsRefused) {
  const std::vector<uint8_t> bytes =
      Archive(Dict({{"w", Tensor("FloatStorage", "0", int64_t{1} << 62, 0, {64}, {1})}}),
              {{"0", std::string(16, '\0')}});
  const absl::Status s = OpenError(bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.ToString(), HasSubstr("storage '0'"));
  EXPECT_THAT(s.ToString(), HasSubstr("claims 4611686018427387904 elements"));
}

// Two storage nodes naming one record: only the first was checked against the record's size, and
// the second (a larger dtype and count) bounded its views, so they read past a 2-byte record (a
// segfault in ovid-gguf convert).
TEST(PthFileTest, EveryStorageNodeOfARecordIsChecked) {
  const std::vector<uint8_t> bytes =
      Archive(Dict({{"h", Tensor("HalfStorage", "0", 1, 0, {1}, {1})},
                    {"w", Tensor("FloatStorage", "0", 50000000, 0, {50000000}, {1})}}),
              {{"0", std::string(2, '\0')}});
  const absl::Status s = OpenError(bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.ToString(), HasSubstr("record model/data/0 holds 2 bytes"));
  EXPECT_THAT(s.ToString(), HasSubstr("50000000 elements = 200000000 bytes"));
}

TEST(PthFileTest, EmptyTensorsNeedNoStorageBytes) {
  // torch keeps the storage offset of an emptied view; nothing is read from it.
  const std::vector<uint8_t> bytes =
      Archive(Dict({{"e", Tensor("HalfStorage", "0", 0, 100, {0, 4}, {4, 1})}}), {{"0", ""}});
  auto file = PthFile::FromBuffer(kName, bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  auto tensors = (*file)->Tensors("");
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  EXPECT_EQ((*tensors)[0].dtype, StDtype::kF16);
  EXPECT_EQ((*tensors)[0].nbytes(), 0u);
  std::vector<uint8_t> scratch;
  EXPECT_TRUE(PthFile::Contiguous((*tensors)[0], &scratch).empty());
}

TEST(PthFileTest, UnsupportedDtypeIsNamedWhenSelected) {
  const std::vector<uint8_t> bytes = Archive(
      Dict({{"c", Tensor("ComplexFloatStorage", "0", 1, 0, {1}, {1})}}), {{"0", Floats({0, 0})}});
  EXPECT_THAT(TensorsError(bytes).ToString(), HasSubstr("tensor 'c' (data.pkl byte "));
  EXPECT_THAT(TensorsError(bytes).ToString(), HasSubstr("torch.ComplexFloatStorage"));
}

TEST(PthFileTest, DeniedGlobalsAreRefusedAtParse) {
  for (const char* global :
       {"os\nsystem\n", "subprocess\nPopen\n", "builtins\neval\n", "posix\nsystem\n"}) {
    const std::string pickle = std::string(
                                   "\x80\x02"
                                   "c") +
                               global + Str("echo hi") + "\x85R.";
    const absl::Status s = OpenError(Archive(pickle, {}));
    EXPECT_THAT(s.ToString(), HasSubstr("model/data.pkl"));
    EXPECT_THAT(s.ToString(), HasSubstr("refusing global"));
    EXPECT_THAT(s.ToString(), HasSubstr("nothing was executed"));
  }
}

TEST(PthFileTest, UnknownObjectsAreOpaqueUntilSelected) {
  // {'args': argparse.Namespace(), 'model': {'w': tensor}, 'step': 5}
  const std::string pickle = Dict(
      {{"args", "cargparse\nNamespace\n)\x81}(" + Str("lr") + "G" + std::string(8, '\0') + "ub"},
       {"model", "}(" + Str("w") + Tensor("FloatStorage", "0", 6, 0, {6}, {1}) + "u"},
       {"step", "K\x05"}});
  const std::vector<uint8_t> bytes = Archive(pickle, {{"0", Floats(kSix)}});
  auto file = PthFile::FromBuffer(kName, bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  auto tensors = (*file)->Tensors("model");
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_EQ(tensors->size(), 1u);
  EXPECT_EQ((*tensors)[0].name, "w");
  absl::Status s = TensorsError(bytes, "args");
  EXPECT_THAT(s.ToString(), HasSubstr("argparse.Namespace object"));
  s = TensorsError(bytes, "");
  EXPECT_THAT(s.ToString(), HasSubstr("nested under top-level keys 'model' (1 tensors)"));
  EXPECT_THAT(s.ToString(), HasSubstr("'step' (int)"));
}

TEST(PthFileTest, MalformedPicklesNameByteAndOpcode) {
  struct Case {
    std::string pickle;
    std::string fragment;
  };
  const Case cases[] = {
      {"\x80\x02}", "ends without a STOP"},
      {"\x80\x02\xff", "byte 2: opcode 0xff"},
      {"\x80\x02h\x07.", "memo entry 7 was never stored"},
      {std::string("\x80\x02X\xff\xff\x00\x00"
                   "ab.",
                   10),
       "runs past the end"},
      {"\x80\x02s.", "stack is empty"},
      {"\x80\x02NN.", "STOP with 2 values"},
      {"\x80\x02]N}s.", "sets items on a list"},
      {"\x80\x02"
       "ctorch\nFloatStorage\nQ.",
       "persistent id that is not"},
  };
  for (const Case& c : cases) {
    const absl::Status s = OpenError(Archive(c.pickle, {}));
    EXPECT_THAT(s.ToString(), HasSubstr("model.pth: model/data.pkl: byte ")) << c.fragment;
    EXPECT_THAT(s.ToString(), HasSubstr(c.fragment));
  }
}

TEST(PthFileTest, DeepNestingIsBounded) {
  std::string pickle = "\x80\x02}(" + Str("x");
  for (int i = 0; i < 100; ++i) pickle += "]";
  for (int i = 0; i < 99; ++i) pickle += "a";
  pickle += "u.";
  EXPECT_THAT(TensorsError(Archive(pickle, {}), "x").ToString(), HasSubstr("nested more than"));
}

// Memo references make the pickle a graph. A list holding itself twice hung the nesting report
// (2^64 paths within the depth limit); it now counts each node once, and the walk stops at the
// depth limit. A chain of 25 lists, each holding the next twice, is acyclic and within the depth
// limit but has 2^25 paths: the walk is bounded by visits.
TEST(PthFileTest, SharedAndCyclicContainersAreBounded) {
  const std::string cycle =
      absl::StrCat("\x80\x02}q", std::string(1, '\0'), "(", Str("a"), "]q\x01(h\x01h\x01", "eu.");
  EXPECT_THAT(TensorsError(Archive(cycle, {})).ToString(), HasSubstr("levels deep (a cycle?)"));

  std::string chain = absl::StrCat("\x80\x02}(", Str("x"), "]q", std::string(1, '\0'));
  auto memo = [](int i) { return std::string(1, static_cast<char>(i)); };
  for (int i = 1; i <= 25; ++i) absl::StrAppend(&chain, "]q", memo(i), "0");  // list i, memo i
  for (int i = 25; i >= 1; --i) {
    // list i-1 .append((list i, list i)), then drop the list i-1 the BINGET pushed
    absl::StrAppend(&chain, "h", memo(i - 1), "h", memo(i), "h", memo(i), "\x86", "a0");
  }
  chain += "u.";
  EXPECT_THAT(TensorsError(Archive(chain, {})).ToString(),
              HasSubstr("paths (shared or cyclic containers)"));
}

// One-byte opcodes that each build an object: 1 GB of memory from a 4 MB pickle before the cap.
TEST(PthFileTest, APickleOfTooManyObjectsIsRefused) {
  const std::string bomb = absl::StrCat("\x80\x02(", std::string((size_t{1} << 20) + 8, ']'), "l.");
  const absl::Status s = OpenError(Archive(bomb, {}));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(s.ToString(), HasSubstr("more than 1048576 objects"));
}

TEST(PthFileTest, LegacyFormatIsRefusedByName) {
  // What torch.save(..., _use_new_zipfile_serialization=False) writes first.
  std::vector<uint8_t> legacy = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  legacy.resize(300, 0);
  EXPECT_THAT(OpenError(legacy).ToString(), HasSubstr("legacy torch.save file"));
}

}  // namespace
}  // namespace ovid::gguf
