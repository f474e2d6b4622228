// File: tests/media/media_cli.cc
// Test-only command line over engine/media, so test_media_ffmpeg.py can feed numpy arrays in
// and check the bytes with ffprobe/ffmpeg/Python's own parsers.
//
//   ovid-media-cli mp4|wav|png -o OUT [--video F32 --frames T --height H --width W]
//                  [--audio F32 --rate HZ] [--crf N] [--preset P] [--audio-rate HZ]
//                  [--channels N] [--threads N] [--rounding truncate|nearest]
//   ovid-media-cli image --image FILE -o OUT   (DecodeImage: raw rgb24 to OUT, "WxH" to stdout)
// F32 files are raw little-endian float32 ([3,T,H,W] for video, mono samples for audio).
// Exit 0 on success; 1 with the status on stderr; 2 for bad arguments.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/media/image_decode.h"
#include "engine/media/media.h"

namespace {

using ovid::media::AudioPcm;
using ovid::media::Rounding;
using ovid::media::VideoFrames;

bool ReadFloats(const std::string& path, std::vector<float>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  out.resize(bytes.size() / sizeof(float));
  std::copy(bytes.begin(), bytes.begin() + out.size() * sizeof(float),
            reinterpret_cast<char*>(out.data()));
  return true;
}

int Usage(const std::string& why) {
  std::cerr << "ovid-media-cli: " << why << "\n";
  return 2;
}

}  // namespace

int Run(int argc, char** argv) {
  if (argc < 2) return Usage("missing command (mp4, wav, png or image)");
  const std::string command = argv[1];
  std::map<std::string, std::string> args;
  for (int i = 2; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  auto get = [&](const char* key, const char* fallback) {
    auto it = args.find(key);
    return it == args.end() ? std::string(fallback) : it->second;
  };
  if (!args.count("-o")) return Usage("missing -o OUT");

  std::vector<float> video_data, audio_data;
  if (args.count("--video") && !ReadFloats(args["--video"], video_data)) {
    return Usage("cannot read " + args["--video"]);
  }
  if (args.count("--audio") && !ReadFloats(args["--audio"], audio_data)) {
    return Usage("cannot read " + args["--audio"]);
  }
  VideoFrames video{video_data, std::stoll(get("--frames", "0")), std::stoll(get("--height", "0")),
                    std::stoll(get("--width", "0"))};
  AudioPcm audio{audio_data, std::stoi(get("--rate", "16000"))};
  const Rounding rounding =
      get("--rounding", "truncate") == "nearest" ? Rounding::kNearest : Rounding::kTruncate;

  absl::StatusOr<std::string> bytes = absl::InvalidArgumentError("unknown command " + command);
  if (command == "mp4") {
    ovid::media::Mp4Options options;
    options.crf = std::stoi(get("--crf", "23"));
    options.preset = get("--preset", "medium");
    options.audio_sample_rate = std::stoi(get("--audio-rate", "44100"));
    options.audio_channels = std::stoi(get("--channels", "2"));
    options.threads = std::stoi(get("--threads", "0"));
    options.rounding = rounding;
    bytes = ovid::media::EncodeMp4(video, audio, options);
  } else if (command == "wav") {
    bytes = ovid::media::EncodeWav(audio, rounding);
  } else if (command == "png") {
    bytes = ovid::media::EncodePngFrames(video, rounding);
  } else if (command == "image") {
    std::ifstream in(get("--image", ""), std::ios::binary);
    if (!in) return Usage("cannot read --image " + get("--image", ""));
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    absl::StatusOr<ovid::media::RgbImage> image = ovid::media::DecodeImage(file);
    if (image.ok()) {
      std::cout << image->width << "x" << image->height << "\n";
      bytes = std::string(image->rgb.begin(), image->rgb.end());
    } else {
      bytes = image.status();
    }
  }
  if (!bytes.ok()) {
    std::cerr << bytes.status() << "\n";
    return 1;
  }
  std::ofstream out(args["-o"], std::ios::binary);
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  return out ? 0 : 1;
}

// std::stoi and friends throw on malformed numbers: a usage error, not a crash.
int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    return Usage(std::string("bad argument: ") + e.what());
  }
}
