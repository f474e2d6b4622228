// `ovid-audio-cli`: the audio decoders from files, for the reference tests and for timing.
//
//   ovid-audio-cli vae      MODEL IN.safetensors OUT.safetensors  latents x [L, 20] -> mel y [80, 2L]
//   ovid-audio-cli vocoder  MODEL IN.safetensors OUT.safetensors  mel x [80, T] -> wave y [256 T]
//   ovid-audio-cli audio    VAE VOCODER IN OUT                    latents x -> wave y (both)
//   ovid-audio-cli info     MODEL                                 the detected model and config
//     [--dtype f32|bf16] [--device cpu|cuda] [--repeat N] [--no-tf32]
//
// MODEL is safetensors or GGUF; which model it is comes from its tensor names. The input tensor
// is "x" (any float dtype), or "y" so that one stage's output feeds the next; the output is "y"
// (f32). --repeat runs the model N times and reports the
// fastest run (GPU timing: the first run pays for kernel selection). f32 convs on CUDA use TF32
// as PyTorch's default does (about 1e-3 relative per conv); --no-tf32 turns that off, for
// comparing the CUDA path with the CPU's. Errors go to stderr with
// exit code 1 (2 for bad flags).
#include <ATen/Context.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/safetensors_writer.h"
#include "engine/gguf/status_macros.h"
#include "engine/models/audio/audio_weight_file.h"
#include "engine/models/bigvgan/bigvgan.h"
#include "engine/models/mmaudio_vae/mmaudio_vae.h"
#include "engine/ops/torch_status.h"


namespace ovid::audio {
namespace {

constexpr char kUsage[] =
    "usage: ovid-audio-cli vae|vocoder MODEL IN.safetensors OUT.safetensors [options]\n"
    "       ovid-audio-cli audio VAE VOCODER IN.safetensors OUT.safetensors [options]\n"
    "       ovid-audio-cli info MODEL [options]\n"
    "  options: --dtype f32|bf16  --device cpu|cuda  --repeat N  --no-tf32\n"
    "  IN holds tensor x (or y: an earlier output) (vae, audio: latents [L, 20]; vocoder: mel\n"
    "  [80, T]); OUT gets y (f32).\n";

struct Args {
  std::string mode;
  std::vector<std::string> files;
  std::string dtype = "f32", device = "cpu";
  int64_t repeat = 1;
  bool tf32 = true;
};

absl::StatusOr<Args> Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dtype" && i + 1 < argc) {
      a.dtype = argv[++i];
    } else if (arg == "--device" && i + 1 < argc) {
      a.device = argv[++i];
    } else if (arg == "--repeat" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &a.repeat) || a.repeat < 1) {
        return absl::InvalidArgumentError(absl::StrCat("--repeat: '", argv[i], "' is not >= 1"));
      }
    } else if (arg == "--no-tf32") {
      a.tf32 = false;
    } else if (arg.rfind("--", 0) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag or missing value: ", arg));
    } else if (a.mode.empty()) {
      a.mode = arg;
    } else {
      a.files.push_back(arg);
    }
  }
  const size_t want = a.mode == "info" ? 1 : a.mode == "audio" ? 4 : 3;
  if ((a.mode != "vae" && a.mode != "vocoder" && a.mode != "audio" && a.mode != "info") ||
      a.files.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a mode (vae, vocoder, audio, info) and its ", want, " files"));
  }
  if (a.dtype != "f32" && a.dtype != "bf16") {
    return absl::InvalidArgumentError("--dtype must be f32 or bf16");
  }
  if (a.device != "cpu" && a.device != "cuda") {
    return absl::InvalidArgumentError("--device must be cpu or cuda");
  }
  return a;
}

absl::Status WriteOutput(const std::string& path, const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).cpu().contiguous();
  const std::span<const uint8_t> data(static_cast<const uint8_t*>(c.data_ptr()),
                                      static_cast<size_t>(c.numel()) * sizeof(float));
  return gguf::WriteSafetensors(path, {{"y", "F32", c.sizes().vec(), data}});
}

// Runs `fn` `repeat` times; returns the last result and prints the fastest time. Moving the
// result to the host inside the timed region waits for the device.
absl::StatusOr<at::Tensor> Timed(const char* what, int64_t repeat,
                                 const std::function<absl::StatusOr<at::Tensor>()>& fn) {
  double best = 1e30;
  at::Tensor out;
  for (int64_t r = 0; r < repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    OVID_ASSIGN_OR_RETURN(at::Tensor y, fn());
    OVID_ASSIGN_OR_RETURN(out, ops::GuardTorch("copying the output", [&] { return y.cpu(); }));
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::fprintf(stderr, "ovid-audio-cli: %s %s in %.4f s (best of %ld)\n", what,
               c10::str(out.sizes()).c_str(), best, static_cast<long>(repeat));
  return out;
}

absl::Status Info(const std::string& path, const AudioModelOptions& o) {
  absl::StatusOr<std::unique_ptr<mmaudio_vae::MmAudioVae>> vae = mmaudio_vae::MmAudioVae::Load(path, o);
  if (vae.ok()) {
    const mmaudio_vae::MmAudioVaeConfig& c = (*vae)->config();
    std::printf("model mmaudio_vae\nembed_dim %ld\ndata_dim %ld\nhidden %ld\nch_mult %s\n"
                "blocks_per_level %ld\nlength_factor %ld\nignored %zu\nparameter_bytes %ld\n",
                c.embed_dim, c.data_dim, c.hidden, absl::StrJoin(c.ch_mult, ",").c_str(),
                c.blocks_per_level, c.LengthFactor(), (*vae)->ignored().size(),
                (*vae)->parameter_bytes());
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<bigvgan::BigVgan>> voc = bigvgan::BigVgan::Load(path, o);
  if (!voc.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("neither model loads:\n  as the MMAudio VAE: ",
                                                   vae.status().message(), "\n  as BigVGAN: ",
                                                   voc.status().message()));
  }
  const bigvgan::BigVganConfig& c = (*voc)->config();
  std::printf("model bigvgan\nnum_mels %ld\ninitial_channel %ld\nup_kernels %s\nrb_kernels %s\n"
              "hop_length %ld\nparameter_bytes %ld\n",
              c.num_mels, c.initial_channel, absl::StrJoin(c.up_kernels, ",").c_str(),
              absl::StrJoin(c.rb_kernels, ",").c_str(), c.HopLength(), (*voc)->parameter_bytes());
  return absl::OkStatus();
}

absl::Status Run(const Args& a) {
  AudioModelOptions o;
  o.device = a.device == "cuda" ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  o.dtype = a.dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  at::globalContext().setAllowTF32CuDNN(a.tf32);
  if (a.mode == "info") return Info(a.files[0], o);
  const std::string& in = a.files[a.files.size() - 2];
  OVID_ASSIGN_OR_RETURN(std::unique_ptr<AudioWeightFile> input, AudioWeightFile::Open(in));
  const bool has_x = std::any_of(input->tensors().begin(), input->tensors().end(),
                                 [](const NamedShape& t) { return t.name == "x"; });
  OVID_ASSIGN_OR_RETURN(const at::Tensor x, input->ReadF32(has_x ? "x" : "y"));
  at::Tensor y;
  if (a.mode == "vae") {
    OVID_ASSIGN_OR_RETURN(auto vae, mmaudio_vae::MmAudioVae::Load(a.files[0], o));
    OVID_ASSIGN_OR_RETURN(y, Timed("mel", a.repeat, [&] { return vae->Decode(x); }));
  } else if (a.mode == "vocoder") {
    OVID_ASSIGN_OR_RETURN(auto voc, bigvgan::BigVgan::Load(a.files[0], o));
    OVID_ASSIGN_OR_RETURN(y, Timed("waveform", a.repeat, [&] { return voc->Vocode(x); }));
  } else {
    OVID_ASSIGN_OR_RETURN(auto vae, mmaudio_vae::MmAudioVae::Load(a.files[0], o));
    OVID_ASSIGN_OR_RETURN(auto voc, bigvgan::BigVgan::Load(a.files[1], o));
    OVID_ASSIGN_OR_RETURN(y, Timed("waveform", a.repeat, [&]() -> absl::StatusOr<at::Tensor> {
                            OVID_ASSIGN_OR_RETURN(at::Tensor mel, vae->Decode(x));
                            return voc->Vocode(mel);
                          }));
  }
  return WriteOutput(a.files.back(), y);
}

}  // namespace
}  // namespace ovid::audio

int main(int argc, char** argv) {
  absl::StatusOr<ovid::audio::Args> args = ovid::audio::Parse(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "ovid-audio-cli: %s\n%s", std::string(args.status().message()).c_str(),
                 ovid::audio::kUsage);
    return 2;
  }
  const absl::Status s = ovid::audio::Run(*args);
  if (!s.ok()) {
    std::fprintf(stderr, "ovid-audio-cli: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
