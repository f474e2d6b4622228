// File: engine/models/umt5/umt5_key_tables.h
// The text of the key tables under keys/, compiled in: CMake reads keys/*.keys at configure
// time into a generated umt5_key_tables.cc (from umt5_key_tables.cc.in), so a layout that
// differs in the wild is an edit to a data file, and the binary needs no file at run time.
#pragma once

#include <string_view>

namespace ovid::umt5 {

std::string_view CanonicalKeyTable();  // keys/canonical.keys
std::string_view PthKeyTable();        // keys/pth.keys
std::string_view HfKeyTable();         // keys/hf.keys
std::string_view GgufKeyTable();       // keys/gguf.keys

}  // namespace ovid::umt5
