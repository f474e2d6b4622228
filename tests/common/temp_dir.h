// File: tests/common/temp_dir.h
// A temporary folder of the test process's own (mkdtemp under gtest's TempDir()), removed with
// its contents when it goes out of scope. Fixed names under /tmp collided between processes run
// at once (ctest -j, two clones tested on one machine) and were left behind after every run.
#pragma once

#include <gtest/gtest.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace ovid::testing {

class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix = "ovid-test") {
    std::string pattern =
        (std::filesystem::path(::testing::TempDir()) / (prefix + ".XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp(" << pattern << ") failed";
    }
    path_ = pattern;
  }
  // POSIX nftw rather than std::filesystem::remove_all: ProcessTempDir's folder goes in an exit
  // handler, and in a LibTorch binary remove_all resolves into libtorch.so's copy, which crashes
  // there.
  ~ScopedTempDir() {
    ::nftw(
        path_.c_str(),
        [](const char* file, const struct stat*, int, struct FTW*) { return ::remove(file); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // A path for `name` inside the folder.
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// One folder for the whole test process, removed when the process exits.
inline const ScopedTempDir& ProcessTempDir() {
  static const ScopedTempDir dir;
  return dir;
}

}  // namespace ovid::testing
