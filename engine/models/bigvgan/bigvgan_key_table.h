// File: engine/models/bigvgan/bigvgan_key_table.h
// The text of keys.txt, compiled in by CMake (ovid_audio_model), so the table stays a
// plain data file and the binary needs no path.
#pragma once

namespace ovid::bigvgan {

extern const char kBigVganKeysText[];

}  // namespace ovid::bigvgan
