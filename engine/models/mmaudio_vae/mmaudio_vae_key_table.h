// File: engine/models/mmaudio_vae/mmaudio_vae_key_table.h
// The text of keys.txt, compiled in by CMake (ovid_audio_model), so the table stays a
// plain data file and the binary needs no path.
#pragma once

namespace ovid::mmaudio_vae {

extern const char kMmAudioVaeKeysText[];

}  // namespace ovid::mmaudio_vae
