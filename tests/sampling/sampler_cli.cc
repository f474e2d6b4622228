// File: tests/sampling/sampler_cli.cc
// ovid-sampler-cli: a test-only bridge from engine/sampling to the Python tests, which compare
// it with diffusers' schedulers configured as Ovi does (test_samplers_vs_diffusers.py).
//   schedule --solver=S --steps=N --shift=X
//       prints {"sigmas": [...], "timesteps": [...]} (float32 values, 9 digits).
//   solve --solver=S --steps=N --shift=X --a=A --b=B --in=F --out=F [--dtype=f32|bf16]
//       steps the analytic field v(x, t) = A·x + B·(t/1000)·sin(x) from the raw float32 IN,
//       writing the trajectory (N+1 states, the initial one first) as raw float32 to OUT.
//   loop  --solver=S --steps=N --shift=X --gv=G --ga=G --video=F --video-shape=C,F,H,W
//         --audio=F --audio-shape=L,C --out-video=F --out-audio=F [--first-frame=F]
//         [--cancel-after=K]
//       runs Sample() with a model of analytic fields (see LoopModel) and writes the results.
//   noise --seed=S --shape=D0,D1,... --dtype=f32|bf16|f16 --out=F [--device=cpu|cuda]
//       MakeNoise, written as raw float32.
// Exit status 0 on success, 1 on a failed operation (3 when cancelled), 2 on bad usage.
#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "engine/sampling/flow_sampler.h"
#include "engine/sampling/flow_schedule.h"
#include "engine/sampling/noise.h"
#include "engine/sampling/sample_loop.h"

namespace {

using ovid::sampling::SolverKind;

using Flags = std::map<std::string, std::string>;

int Usage() {
  std::fprintf(stderr,
               "usage: ovid-sampler-cli schedule|solve|loop|noise --key=value ...\n"
               "       (see tests/sampling/sampler_cli.cc)\n");
  return 2;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "ovid-sampler-cli: %s\n", message.c_str());
  return 1;
}

std::optional<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg.find('=') == std::string::npos) return std::nullopt;
    const size_t eq = arg.find('=');
    flags[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  return flags;
}

// Typed flag readers; a missing or malformed required flag makes `ok` false.
struct Reader {
  explicit Reader(const Flags& f) : flags(f) {}

  const Flags& flags;
  bool ok = true;
  std::string missing;

  std::string Str(const std::string& key, std::optional<std::string> def = std::nullopt) {
    auto it = flags.find(key);
    if (it != flags.end()) return it->second;
    if (!def) Bad(key);
    return def.value_or("");
  }
  double Double(const std::string& key, std::optional<double> def = std::nullopt) {
    auto it = flags.find(key);
    double v = def.value_or(0);
    if (it == flags.end() ? !def : !absl::SimpleAtod(it->second, &v)) Bad(key);
    return v;
  }
  int64_t Int(const std::string& key, std::optional<int64_t> def = std::nullopt) {
    auto it = flags.find(key);
    int64_t v = def.value_or(0);
    if (it == flags.end() ? !def : !absl::SimpleAtoi(it->second, &v)) Bad(key);
    return v;
  }
  std::vector<int64_t> Shape(const std::string& key) {
    std::vector<int64_t> shape;
    for (absl::string_view part : absl::StrSplit(Str(key), ',')) {
      int64_t d = 0;
      if (!absl::SimpleAtoi(part, &d) || d <= 0) Bad(key);
      shape.push_back(d);
    }
    return shape;
  }
  void Bad(const std::string& key) {
    ok = false;
    if (missing.empty()) missing = key;
  }
};

std::optional<std::vector<float>> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.size() % sizeof(float) != 0) return std::nullopt;
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

bool WriteTensors(const std::string& path, const std::vector<at::Tensor>& tensors) {
  std::ofstream out(path, std::ios::binary);
  for (const at::Tensor& t : tensors) {
    const at::Tensor f = t.to(at::kFloat).cpu().contiguous();
    out.write(static_cast<const char*>(f.const_data_ptr()),
              static_cast<std::streamsize>(f.numel() * sizeof(float)));
  }
  return static_cast<bool>(out);
}

std::optional<at::ScalarType> ParseDtype(const std::string& s) {
  if (s == "f32") return at::kFloat;
  if (s == "bf16") return at::kBFloat16;
  if (s == "f16") return at::kHalf;
  return std::nullopt;
}

// A float32 CPU tensor of `shape` from a raw file (its element count must match).
std::optional<at::Tensor> LoadTensor(const std::string& path, std::vector<int64_t> shape) {
  std::optional<std::vector<float>> data = ReadFloats(path);
  if (!data) return std::nullopt;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (static_cast<int64_t>(data->size()) != n) return std::nullopt;
  return at::from_blob(data->data(), shape, at::TensorOptions().dtype(at::kFloat)).clone();
}

// v(x, t) = a·x + b·(t/1000)·sin(x): smooth, x-dependent and t-dependent, so multistep history
// and the timesteps both matter. test_samplers_vs_diffusers.py has the same function.
at::Tensor Field(const at::Tensor& x, double a, double b, float timestep) {
  const double coef = b * static_cast<double>(timestep) / 1000.0;
  return x.mul(static_cast<float>(a)).add_(x.sin(), static_cast<float>(coef));
}

int Schedule(Reader& r) {
  auto kind = ovid::sampling::ParseSolverKind(r.Str("solver"));
  const int steps = static_cast<int>(r.Int("steps"));
  const double shift = r.Double("shift");
  if (!r.ok) return Usage();
  if (!kind.ok()) return Fail(kind.status().ToString());
  auto schedule = ovid::sampling::MakeFlowSchedule(*kind, steps, shift);
  if (!schedule.ok()) return Fail(schedule.status().ToString());
  auto print = [](const char* name, const std::vector<float>& v) {
    std::printf("\"%s\": [", name);
    for (size_t i = 0; i < v.size(); ++i) std::printf("%s%.9g", i ? ", " : "", v[i]);
    std::printf("]");
  };
  std::printf("{");
  print("sigmas", schedule->sigmas);
  std::printf(", ");
  print("timesteps", schedule->timesteps);
  std::printf("}\n");
  return 0;
}

int Solve(Reader& r) {
  auto kind = ovid::sampling::ParseSolverKind(r.Str("solver"));
  const int steps = static_cast<int>(r.Int("steps"));
  const double shift = r.Double("shift");
  const double a = r.Double("a");
  const double b = r.Double("b");
  const std::string in = r.Str("in");
  const std::string out = r.Str("out");
  const auto dtype = ParseDtype(r.Str("dtype", "f32"));
  if (!r.ok || !dtype) return Usage();
  if (!kind.ok()) return Fail(kind.status().ToString());
  std::optional<std::vector<float>> init = ReadFloats(in);
  if (!init) return Fail("cannot read " + in);
  auto sampler = ovid::sampling::MakeFlowSampler(*kind, steps, shift);
  if (!sampler.ok()) return Fail(sampler.status().ToString());

  const int64_t n = static_cast<int64_t>(init->size());
  at::Tensor x = at::from_blob(init->data(), {n}, at::TensorOptions().dtype(at::kFloat))
                     .to(*dtype, /*non_blocking=*/false, /*copy=*/true);
  std::vector<at::Tensor> trajectory = {x};
  for (int i = 0; i < (*sampler)->steps(); ++i) {
    const at::Tensor v = Field(x.to(at::kFloat), a, b, (*sampler)->timesteps()[i]).to(*dtype);
    auto next = (*sampler)->Step(v, i, x);
    if (!next.ok()) return Fail(next.status().ToString());
    x = *next;
    trajectory.push_back(x);
  }
  return WriteTensors(out, trajectory) ? 0 : Fail("cannot write " + out);
}

// The loop's model: per pass and tower a different analytic field, so guidance mixes distinct
// predictions. Positive: (a, b) = (-0.5, 1.0) video, (-0.3, 0.7) audio; negative: (-0.8, 0.4)
// video, (-0.6, 1.1) audio; an SLG layer other than -1 on the negative pass adds 0.01·layer to
// its a (so the test sees the layer arrive).
ovid::sampling::TowerVelocities LoopModel(const at::Tensor& video, const at::Tensor& audio,
                                          const ovid::sampling::ModelCall& call) {
  const bool pos = call.pass == ovid::sampling::GuidancePass::kPositive;
  const double slg = call.slg_layer >= 0 ? 0.01 * call.slg_layer : 0.0;
  return {Field(video, pos ? -0.5 : -0.8 + slg, pos ? 1.0 : 0.4, call.timestep),
          Field(audio, pos ? -0.3 : -0.6 + slg, pos ? 0.7 : 1.1, call.timestep)};
}

int Loop(Reader& r) {
  ovid::sampling::SampleOptions options;
  auto kind = ovid::sampling::ParseSolverKind(r.Str("solver"));
  options.steps = static_cast<int>(r.Int("steps"));
  options.shift = r.Double("shift");
  options.video_guidance = r.Double("gv");
  options.audio_guidance = r.Double("ga");
  options.slg_layer = static_cast<int>(r.Int("slg", 11));
  const std::vector<int64_t> video_shape = r.Shape("video-shape");
  const std::vector<int64_t> audio_shape = r.Shape("audio-shape");
  const std::string video_in = r.Str("video"), audio_in = r.Str("audio");
  const std::string out_video = r.Str("out-video"), out_audio = r.Str("out-audio");
  const std::string first_frame = r.Str("first-frame", "");
  const int64_t cancel_after = r.Int("cancel-after", -1);
  if (!r.ok) return Usage();
  if (!kind.ok()) return Fail(kind.status().ToString());
  options.solver = *kind;
  auto video = LoadTensor(video_in, video_shape);
  auto audio = LoadTensor(audio_in, audio_shape);
  if (!video || !audio) return Fail("cannot read the video/audio inputs with the given shapes");
  if (!first_frame.empty()) {
    std::vector<int64_t> frame_shape = video_shape;
    frame_shape[1] = 1;
    options.first_frame_latent = LoadTensor(first_frame, frame_shape);
    if (!options.first_frame_latent) return Fail("cannot read " + first_frame);
  }
  int done = 0;
  auto progress = [&](const ovid::sampling::SampleProgress& p) { done = p.step; };
  auto cancelled = [&]() { return cancel_after >= 0 && done >= cancel_after; };
  auto model = [](const at::Tensor& v, const at::Tensor& a, const ovid::sampling::ModelCall& c)
      -> absl::StatusOr<ovid::sampling::TowerVelocities> { return LoopModel(v, a, c); };
  auto result = ovid::sampling::Sample(model, *video, *audio, options, progress, cancelled);
  if (!result.ok()) {
    std::fprintf(stderr, "ovid-sampler-cli: %s\n", result.status().ToString().c_str());
    return absl::IsCancelled(result.status()) ? 3 : 1;
  }
  if (!WriteTensors(out_video, {result->video}) || !WriteTensors(out_audio, {result->audio})) {
    return Fail("cannot write the outputs");
  }
  return 0;
}

int Noise(Reader& r) {
  const int64_t seed = r.Int("seed");
  const std::vector<int64_t> shape = r.Shape("shape");
  const auto dtype = ParseDtype(r.Str("dtype", "bf16"));
  const std::string out = r.Str("out");
  const std::string device = r.Str("device", "cpu");
  if (!r.ok || !dtype || (device != "cpu" && device != "cuda")) return Usage();
  auto noise =
      ovid::sampling::MakeNoise(shape, static_cast<uint64_t>(seed), c10::Device(device), *dtype);
  if (!noise.ok()) return Fail(noise.status().ToString());
  return WriteTensors(out, {*noise}) ? 0 : Fail("cannot write " + out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::optional<Flags> flags = ParseFlags(argc, argv);
  if (!flags) return Usage();
  Reader reader(*flags);
  const std::string cmd = argv[1];
  if (cmd == "schedule") return Schedule(reader);
  if (cmd == "solve") return Solve(reader);
  if (cmd == "loop") return Loop(reader);
  if (cmd == "noise") return Noise(reader);
  return Usage();
}
