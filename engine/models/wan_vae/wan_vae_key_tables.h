// File: engine/models/wan_vae/wan_vae_key_tables.h
// The text of keys_original.txt and keys_diffusers.txt, compiled in by CMake
// (wan_vae_key_tables.cc.in), so the tables stay plain data files and the binary needs no path.
#pragma once

namespace ovid::wan_vae {

extern const char kKeysOriginalText[];
extern const char kKeysDiffusersText[];

}  // namespace ovid::wan_vae
