// File: tools/ovidctl/format.h
// Names and human-readable numbers shared by ovidctl's commands: status codes, enum values,
// byte sizes, durations and timestamps.
#pragma once

#include <cstdint>
#include <string>

#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "ovid/v1/generation.pb.h"

namespace ovidctl {

// "NOT_FOUND", "RESOURCE_EXHAUSTED", ... for a google.rpc.Code number; "CODE_<n>" otherwise.
std::string StatusCodeName(int code);
// "running", "succeeded", ... (lower case, without the JOB_STATE_ prefix).
std::string JobStateName(ovid::v1::JobState state);
// "latents", "mp4", "wav", "png_frames".
std::string OutputFormatName(ovid::v1::OutputFormat format);
// The file extension of an output: safetensors, mp4, wav, tar.
std::string OutputExtension(ovid::v1::OutputFormat format);
// The output format a file name asks for, by its extension (the inverse of OutputExtension);
// OUTPUT_FORMAT_UNSPECIFIED when the extension is none of them.
ovid::v1::OutputFormat OutputFormatForPath(const std::string& path);
std::string SolverName(ovid::v1::Solver solver);
// 1536 -> "1.50 KiB".
std::string HumanBytes(uint64_t bytes);
// 75.4 -> "1:15", 3725 -> "1:02:05".
std::string Clock(double seconds);
// "2026-11-26 07:30:01 UTC", or "-" when unset.
std::string TimestampText(const google::protobuf::Timestamp& ts);
// Prints `message` to stdout as indented JSON (proto field names, defaults included, 64-bit
// numbers as strings as protobuf's JSON mapping has them); false if it cannot be printed.
bool PrintJson(const google::protobuf::Message& message);

}  // namespace ovidctl
