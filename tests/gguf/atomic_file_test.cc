// AtomicFile: the destination changes only at Commit, whole; writers of one path never share a
// temporary file; an abandoned or failed write leaves nothing behind.
#include "engine/gguf/atomic_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/common/temp_dir.h"

namespace ovid::gguf {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> Names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(AtomicFileTest, TwoWritersOfOnePathNeverTruncateEachOther) {
  const testing::ScopedTempDir temp("atomic-two");
  const fs::path& dir = temp.path();
  const std::string path = (dir / "out.bin").string();
  std::ofstream(path) << "old contents";
  auto a = AtomicFile::Create(path), b = AtomicFile::Create(path);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->temp_path(), (*b)->temp_path());
  ASSERT_TRUE((*a)->Write("first writer", 12).ok());
  ASSERT_TRUE((*b)->Write("second", 6).ok());
  ASSERT_TRUE((*a)->Write(" done", 5).ok());
  EXPECT_EQ(Read(path), "old contents");  // nothing changes before a commit
  ASSERT_TRUE((*a)->Commit().ok());
  EXPECT_EQ(Read(path), "first writer done");
  ASSERT_TRUE((*b)->Commit().ok());
  EXPECT_EQ(Read(path), "second");  // the last commit wins, whole
  EXPECT_EQ(Names(dir), std::vector<std::string>{"out.bin"});
}

TEST(AtomicFileTest, AnUncommittedFileLeavesNothingAndAMissingFolderIsNamed) {
  const testing::ScopedTempDir temp("atomic-drop");
  const fs::path& dir = temp.path();
  {
    auto f = AtomicFile::Create((dir / "out.bin").string());
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Write("partial", 7).ok());
  }
  EXPECT_TRUE(Names(dir).empty());
  const auto missing = AtomicFile::Create((dir / "no" / "out.bin").string());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(missing.status().message()).find((dir / "no").string()),
            std::string::npos)
      << missing.status();
}

// What a signal handler calls: the open files' temporaries go, committed ones are untouched, and
// the AtomicFile destroyed afterwards does not mind its file being gone.
TEST(AtomicFileTest, PendingTemporariesAreRemovedForASignal) {
  const testing::ScopedTempDir temp("atomic-signal");
  const fs::path& dir = temp.path();
  auto done = AtomicFile::Create((dir / "done.bin").string());
  ASSERT_TRUE(done.ok());
  ASSERT_TRUE((*done)->Write("whole", 5).ok());
  ASSERT_TRUE((*done)->Commit().ok());
  auto a = AtomicFile::Create((dir / "a.bin").string());
  auto b = AtomicFile::Create((dir / "b.bin").string());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Write("partial", 7).ok());
  EXPECT_EQ(Names(dir).size(), 3u);  // done.bin and two temporaries
  RemovePendingTempFiles();
  EXPECT_EQ(Names(dir), std::vector<std::string>{"done.bin"});
  a->reset();
  b->reset();
  EXPECT_EQ(Names(dir), std::vector<std::string>{"done.bin"});
  RemovePendingTempFiles();  // nothing registered any more
  EXPECT_EQ(Names(dir), std::vector<std::string>{"done.bin"});
}

}  // namespace
}  // namespace ovid::gguf
