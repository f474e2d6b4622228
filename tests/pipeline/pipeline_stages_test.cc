// File: tests/pipeline/pipeline_stages_test.cc
// The whole pipeline on the CPU with every stage loaded: the tiny denoiser plus small
// random-weight components written by the real `ovid-gguf synth` (UMT5 at the denoiser's text
// width, Wan2.2 VAE, MMAudio VAE, BigVGAN) and a SentencePiece model trained here. Checks the
// stage order and timings, the outputs' sizes, that offloading changes no byte, image to video,
// and that bad component files stop the load naming the file.
#include <ATen/ops/zeros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/gguf/safetensors_file.h"
#include "engine/gguf/safetensors_writer.h"
#include "engine/pipeline/components.h"
#include "engine/pipeline/output_stage.h"
#include "gtest/gtest.h"
#include "tests/pipeline/pipeline_test_util.h"
#include "tests/text/spm_test_model.h"

namespace ovid::testing {
namespace {

constexpr int kFrames = 121;  // 128x128_5s: 31 latent frames
constexpr int kSamples = 157 * 2 * 256;

// The component files, written once per test process.
struct ComponentFilesOnDisk {
  ComponentFilesOnDisk() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir = absl::StrCat(tmp ? tmp : "/tmp", "/ovid_", getpid(), "_stages");
    if (std::system(absl::StrCat("mkdir -p ", dir).c_str()) != 0) return;
    auto synth = [&](const std::string& name, const std::string& args) {
      const std::string path = absl::StrCat(dir, "/", name);
      const std::string cmd =
          absl::StrCat(OVID_GGUF_BIN, " synth ", path, " ", args, " --seed 3 > /dev/null 2>&1");
      return std::system(cmd.c_str()) == 0 ? path : std::string();
    };
    files.text_encoder = synth("umt5.gguf", "--preset umt5-tiny --d-model 256");
    narrow_text_encoder = synth("narrow.gguf", "--preset umt5-tiny");
    files.video_vae = synth("vae.safetensors", "--preset wan-vae-tiny");
    files.audio_vae = synth("mmaudio.safetensors", "--preset mmaudio-vae-tiny");
    files.vocoder = synth("bigvgan.safetensors", "--preset bigvgan-tiny");
    std::string error;
    const std::string model = text::testing::TrainTinyModel(/*eos_id=*/1, &error);
    if (!model.empty()) {
      files.tokenizer = dir + "/spiece.model";
      std::ofstream(files.tokenizer, std::ios::binary) << model;
    }
  }
  ~ComponentFilesOnDisk() {
    if (!dir.empty()) (void)std::system(absl::StrCat("rm -rf ", dir).c_str());
  }
  bool ok() const {
    return !files.text_encoder.empty() && !narrow_text_encoder.empty() &&
           !files.video_vae.empty() && !files.audio_vae.empty() && !files.vocoder.empty() &&
           !files.tokenizer.empty();
  }
  std::string dir;
  ComponentFiles files;
  std::string narrow_text_encoder;
};

const ComponentFilesOnDisk& Components() {
  static const ComponentFilesOnDisk c;
  return c;
}

PipelineOptions FullOptions() {
  PipelineOptions o;
  o.components = Components().files;
  return o;
}

GenerationRequest PromptRequest(std::vector<OutputFormat> outputs, uint64_t seed = 4) {
  GenerationRequest r;
  r.conditioning = std::string("a cat sings in the rain <AUDCAP>soft music<ENDAUDCAP>");
  r.steps = 2;
  r.seed = seed;
  r.outputs = std::move(outputs);
  return r;
}

std::map<OutputFormat, std::string> ByFormat(const RecordingSink& sink) {
  std::map<OutputFormat, std::string> out;
  for (const Output& o : sink.outputs()) out[o.format] = o.data;
  return out;
}

// The members of a ustar archive, by name.
std::map<std::string, std::string> Untar(const std::string& tar) {
  std::map<std::string, std::string> files;
  size_t at = 0;
  while (at + 512 <= tar.size() && tar[at] != '\0') {
    const std::string name(tar.c_str() + at);
    const size_t size = std::stoul(std::string(tar, at + 124, 11), nullptr, 8);
    files[name] = tar.substr(at + 512, size);
    at += 512 + (size + 511) / 512 * 512;
  }
  return files;
}

// ffmpeg's test pattern as one image file (the format from the name's extension); empty if
// ffmpeg failed.
std::string TestPatternImage(const std::string& name, const std::string& size = "320x180") {
  const std::string path = Components().dir + "/" + name;
  if (std::system(
          absl::StrCat("ffmpeg -v error -y -f lavfi -i testsrc=size=", size, " -frames:v 1 ", path)
              .c_str()) != 0) {
    return "";
  }
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

uint32_t ReadBe32(const std::string& bytes, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

// Refused by admission's content check (after EstimateVram, which reads only the header, took
// it) as INVALID_ARGUMENT whose message contains `text`.
void ExpectRefusedAtAdmission(const Pipeline& p, const GenerationRequest& r,
                              const std::string& text) {
  const absl::StatusOr<uint64_t> estimate = p.EstimateVram(r);
  ASSERT_TRUE(estimate.ok()) << estimate.status();
  const absl::Status contents = p.CheckContents(r);
  EXPECT_EQ(contents.code(), absl::StatusCode::kInvalidArgument) << contents;
  EXPECT_TRUE(absl::StrContains(contents.message(), text)) << contents;
}

class PipelineStagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TinyModelPath().empty() || !Components().ok()) {
      GTEST_FAIL() << "could not write the tiny model or components with " << OVID_GGUF_BIN;
    }
  }
};

// The default video VAE computes as Ovi does (encoders.md §3.5): fp32 on weights rounded to
// bf16; it used the file's fp32 weights as they are.
TEST(PipelineComponentsTest, TheDefaultVideoVaeRoundsItsWeightsThroughBf16LikeOvi) {
  DecodeSettings decode;
  pipeline::VideoVaeNumerics n = pipeline::VideoVaeNumericsFor(decode);
  EXPECT_EQ(n.dtype, at::kFloat);
  EXPECT_TRUE(n.round_through_bf16);
  decode.video_vae_bf16 = true;
  n = pipeline::VideoVaeNumericsFor(decode);
  EXPECT_EQ(n.dtype, at::kBFloat16);
  EXPECT_FALSE(n.round_through_bf16);
}

TEST(PipelineOutputStageTest, AWrongDecoderOutputIsNamedWithWhatCame) {
  using pipeline::DecodedMedia;
  using pipeline::EncodeMediaOutput;
  DecodedMedia m;
  m.video = at::zeros({2, 3}, at::kInt);
  m.audio = at::zeros({4, 5}).t();
  const DecodeSettings settings;
  absl::StatusOr<std::string> mp4 = EncodeMediaOutput(OutputFormat::kMp4, m, settings);
  EXPECT_EQ(mp4.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(mp4.status().message(), "got [2, 3] Int on cpu")) << mp4.status();
  absl::StatusOr<std::string> wav = EncodeMediaOutput(OutputFormat::kWav, m, settings);
  EXPECT_TRUE(absl::StrContains(wav.status().message(), "got [5, 4] Float on cpu, not contiguous"))
      << wav.status();
  m.audio = at::Tensor();
  wav = EncodeMediaOutput(OutputFormat::kWav, m, settings);
  EXPECT_TRUE(absl::StrContains(wav.status().message(), "got no tensor")) << wav.status();
}

// A NaN from the decoders is the server's fault: INTERNAL, never the encoders' INVALID_ARGUMENT,
// which would tell the client its request was malformed.
TEST(PipelineOutputStageTest, NonFiniteDecoderOutputIsTheServersError) {
  pipeline::DecodedMedia m;
  m.video = at::zeros({3, 1, 16, 16});
  m.video[1][0][2][3] = std::numeric_limits<float>::quiet_NaN();
  m.audio = at::zeros({640});
  m.audio_sample_rate = 16000;
  const DecodeSettings settings;
  absl::StatusOr<std::string> png =
      pipeline::EncodeMediaOutput(OutputFormat::kPngFrames, m, settings);
  EXPECT_EQ(png.status().code(), absl::StatusCode::kInternal) << png.status();
  EXPECT_TRUE(absl::StrContains(png.status().message(), "the decoders' output cannot be encoded"))
      << png.status();
  EXPECT_TRUE(absl::StrContains(png.status().message(), "non-finite")) << png.status();
  m.audio[7] = std::numeric_limits<float>::infinity();
  absl::StatusOr<std::string> wav = pipeline::EncodeMediaOutput(OutputFormat::kWav, m, settings);
  EXPECT_EQ(wav.status().code(), absl::StatusCode::kInternal) << wav.status();
  EXPECT_TRUE(absl::StrContains(wav.status().message(), "audio")) << wav.status();
  m.video[1][0][2][3] = 0.5f;
  m.audio[7] = 0.0f;
  EXPECT_TRUE(pipeline::EncodeMediaOutput(OutputFormat::kWav, m, settings).ok());
}

TEST_F(PipelineStagesTest, PromptToEveryOutputInOvisStageOrder) {
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(FullOptions());
  ASSERT_TRUE(p.ok()) << p.status();
  const ModelDescription d = (*p)->Describe();
  EXPECT_EQ(d.output_formats,
            (std::vector<OutputFormat>{OutputFormat::kLatents, OutputFormat::kMp4,
                                       OutputFormat::kWav, OutputFormat::kPngFrames}));
  std::map<std::string, StageDescription> stages;
  for (const StageDescription& s : d.stages) stages[s.name] = s;
  for (const char* name : {"denoiser", "text_encoder", "video_vae", "audio_vae", "vocoder"}) {
    EXPECT_TRUE(stages[name].loaded) << name;
    EXPECT_FALSE(stages[name].offloaded) << name;
  }
  EXPECT_EQ(stages["video_vae"].file, "vae.safetensors");

  RecordingSink sink;
  CancelToken cancel;
  absl::StatusOr<GenerationResult> r =
      (*p)->Run(PromptRequest({OutputFormat::kMp4, OutputFormat::kWav, OutputFormat::kPngFrames,
                               OutputFormat::kLatents}),
                sink, cancel);
  ASSERT_TRUE(r.ok()) << r.status();

  std::vector<std::string> order;
  for (const Progress& pr : sink.progress()) {
    if (order.empty() || order.back() != pr.stage) order.push_back(pr.stage);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"text_encode", "denoise", "audio_decode",
                                             "video_decode", "mux"}));
  std::vector<std::string> timed;
  for (const StageTiming& s : r->stages) {
    std::fprintf(stderr, "stage %s: %.2f s\n", s.stage.c_str(), s.seconds);
    timed.push_back(s.stage);
    EXPECT_GT(s.seconds, 0) << s.stage;
  }
  EXPECT_EQ(timed, order);

  const std::map<OutputFormat, std::string> out = ByFormat(sink);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out.at(OutputFormat::kWav).size(), 44u + 2u * kSamples);  // 16-bit mono + header
  EXPECT_EQ(out.at(OutputFormat::kMp4).substr(4, 4), "ftyp");
  const std::map<std::string, std::string> frames = Untar(out.at(OutputFormat::kPngFrames));
  EXPECT_EQ(frames.size(), static_cast<size_t>(kFrames));
  EXPECT_EQ(frames.begin()->first, "frame_00000.png");
  EXPECT_EQ(frames.begin()->second.substr(1, 3), "PNG");
  EXPECT_EQ(r->parameters.video_frames, static_cast<uint32_t>(kFrames));
  EXPECT_EQ(r->parameters.audio_samples, static_cast<uint32_t>(kSamples));
}

TEST_F(PipelineStagesTest, OffloadingChangesNoByteAndIsDescribed) {
  PipelineOptions offload = FullOptions();
  offload.offload = {true, true, true, true};
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> resident = LoadTiny(FullOptions());
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> offloaded = LoadTiny(offload);
  ASSERT_TRUE(resident.ok()) << resident.status();
  ASSERT_TRUE(offloaded.ok()) << offloaded.status();
  for (const StageDescription& s : (*offloaded)->Describe().stages) {
    EXPECT_TRUE(s.offloaded) << s.name;
  }
  // Between jobs an offloaded denoiser holds no weights; a resident one does.
  EXPECT_EQ((*offloaded)->Vram().weights_resident_bytes, 0u);
  EXPECT_GT((*resident)->Vram().weights_resident_bytes, 0u);
  // Its weights come back for the denoise stage: the estimate says so.
  GenerationRequest probe = PromptRequest({OutputFormat::kLatents});
  absl::StatusOr<uint64_t> with = (*offloaded)->EstimateVram(probe);
  absl::StatusOr<uint64_t> without = (*resident)->EstimateVram(probe);
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_GT(*with, *without);
  std::map<OutputFormat, std::string> runs[2];
  for (int i = 0; i < 2; ++i) {
    CancelToken cancel;
    LoadedPipeline& p = i == 0 ? **resident : **offloaded;
    // Twice on the offloaded one, so it reloads its stages between jobs.
    for (int repeat = 0; repeat < (i == 0 ? 1 : 2); ++repeat) {
      RecordingSink s;
      absl::StatusOr<GenerationResult> r =
          p.Run(PromptRequest({OutputFormat::kWav, OutputFormat::kPngFrames}, 9), s, cancel);
      ASSERT_TRUE(r.ok()) << r.status();
      runs[i] = ByFormat(s);
    }
  }
  EXPECT_EQ(runs[0], runs[1]);
}

TEST_F(PipelineStagesTest, TheDefaultOutputIsTheMp4AndNegativesDefaultToOvis) {
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(FullOptions());
  ASSERT_TRUE(p.ok()) << p.status();
  auto latents = [&](GenerationRequest r) {
    RecordingSink sink;
    CancelToken cancel;
    absl::StatusOr<GenerationResult> result = (*p)->Run(r, sink, cancel);
    EXPECT_TRUE(result.ok()) << result.status();
    return ByFormat(sink);
  };
  GenerationRequest base = PromptRequest({});
  const auto mp4 = latents(base);
  ASSERT_EQ(mp4.size(), 1u);
  EXPECT_EQ(mp4.begin()->first, OutputFormat::kMp4);
  // Absent negatives at guidance != 1 are Ovi's default negative prompts: giving them as text
  // gives the same result; another negative does not.
  base.outputs = {OutputFormat::kLatents};
  GenerationRequest spelled = base;
  spelled.video_negative = std::string("jitter, bad hands, blur, distortion");
  spelled.audio_negative = std::string("robotic, muffled, echo, distorted");
  GenerationRequest other = base;
  other.video_negative = std::string("rain");
  EXPECT_EQ(latents(base), latents(spelled));
  EXPECT_NE(latents(base), latents(other));
}

// A cancel during the mux stops the encode at the next frame and the job ends CANCELLED with
// no media output (the token used to be read only between outputs, so a cancel during the last
// one ended the job as a success).
TEST_F(PipelineStagesTest, ACancelDuringTheMuxStopsTheEncode) {
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(FullOptions());
  ASSERT_TRUE(p.ok()) << p.status();
  for (const OutputFormat format : {OutputFormat::kMp4, OutputFormat::kPngFrames}) {
    GenerationRequest r = PromptRequest({});
    r.outputs = {format};
    RecordingSink sink;
    CancelToken cancel;
    sink.on_progress = [&cancel](const Progress& pr) {
      if (pr.stage == "mux" && pr.step == 0) cancel.Cancel(CancelReason::kCancelled, "gone");
    };
    absl::StatusOr<GenerationResult> result = (*p)->Run(r, sink, cancel);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
    EXPECT_EQ(result.status().message(), "gone");
    EXPECT_TRUE(sink.outputs().empty());
  }
}

TEST_F(PipelineStagesTest, ImageToVideoEncodesTheFirstFrameAtItsAspect) {
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(FullOptions());
  ASSERT_TRUE(p.ok()) << p.status();
  // A 320x180 PNG: the first frame of a PNG-frames output of a wide video is not at hand, so
  // ffmpeg's test pattern it is.
  GenerationRequest r = PromptRequest({OutputFormat::kPngFrames, OutputFormat::kLatents});
  r.first_frame = TestPatternImage("frame.png");
  ASSERT_FALSE(r.first_frame.empty());
  RecordingSink sink;
  CancelToken cancel;
  absl::StatusOr<GenerationResult> result = (*p)->Run(r, sink, cancel);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->parameters.width, 160u);  // 16:9 at 128^2, multiples of 32
  EXPECT_EQ(result->parameters.height, 96u);
  bool encoded = false;
  for (const Progress& pr : sink.progress()) encoded |= pr.stage == "image_encode";
  EXPECT_TRUE(encoded);
  EXPECT_EQ(Untar(ByFormat(sink).at(OutputFormat::kPngFrames)).size(),
            static_cast<size_t>(kFrames));

  // Admission checks the image: one whose chunks are complete but whose pixel data is damaged
  // (it no longer inflates) is refused there, naming first_frame, before it queues; the job
  // refuses it too, before any device work. The estimate reads only the headers (it runs for
  // every request on gRPC's threads); the content check, bounded in concurrency, inflates.
  const absl::StatusOr<uint64_t> intact = (*p)->EstimateVram(r);
  ASSERT_TRUE(intact.ok()) << intact.status();
  const size_t idat = r.first_frame.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  for (size_t i = idat + 8; i < idat + 40; ++i)
    r.first_frame[i] = static_cast<char>(~r.first_frame[i]);
  const absl::StatusOr<uint64_t> sized = (*p)->EstimateVram(r);
  ASSERT_TRUE(sized.ok()) << sized.status();
  EXPECT_EQ(*sized, *intact);
  const absl::Status damaged = (*p)->CheckContents(r);
  EXPECT_EQ(damaged.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(damaged.message(), "first_frame: corrupt PNG")) << damaged;
  const absl::Status undecodable = (*p)->Run(r, sink, cancel).status();
  EXPECT_EQ(undecodable.code(), absl::StatusCode::kInvalidArgument) << undecodable;
  EXPECT_TRUE(absl::StrContains(undecodable.message(), "first_frame")) << undecodable;

  // Whole structure, data the decoder rejects: admission's content check decodes the image, so
  // these are refused there too, not after a queue wait (the probe alone lets them through).
  for (size_t i = idat + 8; i < idat + 40; ++i)
    r.first_frame[i] = static_cast<char>(~r.first_frame[i]);
  const size_t crc = idat + 4 + ReadBe32(r.first_frame, idat - 4);  // IDAT's CRC
  r.first_frame[crc] = static_cast<char>(~r.first_frame[crc]);
  ExpectRefusedAtAdmission(**p, r, "first_frame: the PNG decoder rejected the image");
  r.first_frame = TestPatternImage("frame.jpg");
  ASSERT_TRUE((*p)->CheckContents(r).ok());
  ASSERT_TRUE((*p)->EstimateVram(r).ok());
  // The scan's first component names Huffman tables 3/3, which the file never defines.
  const size_t scan = r.first_frame.find("\xFF\xDA");
  ASSERT_NE(scan, std::string::npos);
  r.first_frame[scan + 6] = '\x33';
  ExpectRefusedAtAdmission(**p, r, "first_frame: the JPEG decoder rejected the image");
  // Past 4096x4096 pixels admission does not decode (it runs on the caller's RPC thread): the
  // same damage passes there, and the job's own decode refuses it.
  r.first_frame = TestPatternImage("big.jpg", "4112x4096");
  const size_t big_scan = r.first_frame.find("\xFF\xDA");
  ASSERT_NE(big_scan, std::string::npos);
  r.first_frame[big_scan + 6] = '\x33';
  EXPECT_TRUE((*p)->EstimateVram(r).ok());
  EXPECT_TRUE((*p)->CheckContents(r).ok());
  EXPECT_FALSE(pipeline::ReadFirstFrame(r.first_frame).ok());

  r.first_frame = "GIF89a not a png";
  EXPECT_EQ((*p)->EstimateVram(r).status().code(), absl::StatusCode::kInvalidArgument);
  const absl::Status bad = (*p)->Run(r, sink, cancel).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_TRUE(absl::StrContains(bad.message(), "first_frame")) << bad;
}

// Admission's content check runs on gRPC's threads, so at most two decode at once: a third
// request meanwhile skips the check (its job's own decode refuses a bad image), and the slots
// are free again afterwards.
TEST_F(PipelineStagesTest, AdmissionDecodesAtMostTwoImagesAtOnceAndSkipsTheRest) {
  PipelineOptions o = FullOptions();
  o.faults.admission_decode_delay_ms = 3000;  // each check holds its slot this long
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(o);
  ASSERT_TRUE(p.ok()) << p.status();
  GenerationRequest r = PromptRequest({OutputFormat::kLatents});
  r.first_frame = TestPatternImage("slots.jpg");
  const size_t scan = r.first_frame.find("\xFF\xDA");
  ASSERT_NE(scan, std::string::npos);
  r.first_frame[scan + 6] = '\x33';  // Huffman tables the file never defines
  std::vector<std::future<absl::Status>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::async(std::launch::async, [&] { return (*p)->CheckContents(r); }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // both are inside their slot
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE((*p)->CheckContents(r).ok());  // busy: skipped, not decoded, not delayed
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  for (std::future<absl::Status>& f : held) {
    const absl::Status s = f.get();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "the JPEG decoder rejected the image")) << s;
  }
  EXPECT_EQ((*p)->CheckContents(r).code(), absl::StatusCode::kInvalidArgument);  // slots freed
}

// An offloaded stage is reopened by path for each job: a file replaced since startup gets the
// checks it had at startup, and the job fails naming it rather than deep in the denoiser.
TEST_F(PipelineStagesTest, AnOffloadedStageReplacedOnDiskIsCheckedAgainAtItsNextLoad) {
  namespace fs = std::filesystem;
  const std::string path = Components().dir + "/swapped_text.gguf";
  fs::copy_file(Components().files.text_encoder, path, fs::copy_options::overwrite_existing);
  PipelineOptions o = FullOptions();
  o.components.text_encoder = path;
  o.offload.text_encoder = true;
  absl::StatusOr<std::unique_ptr<LoadedPipeline>> p = LoadTiny(o);
  ASSERT_TRUE(p.ok()) << p.status();
  fs::copy_file(Components().narrow_text_encoder, path + ".new",
                fs::copy_options::overwrite_existing);
  fs::rename(path + ".new", path);
  RecordingSink sink;
  CancelToken cancel;
  absl::StatusOr<GenerationResult> r =
      (*p)->Run(PromptRequest({OutputFormat::kLatents}), sink, cancel);
  ASSERT_FALSE(r.ok());
  // The server's error, not the request's (the loader's INVALID_ARGUMENT blamed the client).
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "swapped_text.gguf")) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "text_dim 256")) << r.status();
}

// A copy of the safetensors file at `from` without the tensors whose names contain `drop`.
std::string WithoutTensors(const std::string& from, const std::string& drop,
                           const std::string& to) {
  absl::StatusOr<std::unique_ptr<gguf::SafetensorsFile>> file = gguf::SafetensorsFile::Open(from);
  EXPECT_TRUE(file.ok()) << file.status();
  if (!file.ok()) return "";
  std::vector<gguf::SafetensorsEntry> kept;
  for (const gguf::SafetensorsTensor& t : (*file)->tensors()) {
    if (absl::StrContains(t.name, drop)) continue;
    kept.push_back({t.name, gguf::StDtypeName(t.dtype), t.shape, (*file)->Data(t)});
  }
  EXPECT_LT(kept.size(), (*file)->tensors().size()) << "nothing named like " << drop;
  const absl::Status written = gguf::WriteSafetensors(to, kept);
  EXPECT_TRUE(written.ok()) << written;
  return to;
}

TEST_F(PipelineStagesTest, BadComponentFilesStopTheLoadNamingTheFile) {
  PipelineOptions missing = FullOptions();
  missing.components.video_vae = Components().dir + "/nope.safetensors";
  absl::Status s = LoadTiny(missing).status();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "nope.safetensors")) << s;

  PipelineOptions narrow = FullOptions();
  narrow.components.text_encoder = Components().narrow_text_encoder;
  s = LoadTiny(narrow).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "narrow.gguf")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "text_dim 256")) << s;

  PipelineOptions half_audio = FullOptions();
  half_audio.components.vocoder.clear();
  s = LoadTiny(half_audio).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "--vocoder")) << s;

  PipelineOptions swapped = FullOptions();
  swapped.components.audio_vae = Components().files.vocoder;
  s = LoadTiny(swapped).status();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "bigvgan.safetensors")) << s;

  // Files that lack an upsampling tensor still load as a structure of their own, which would
  // scale the latents otherwise than Ovi's plan (a video of other length, audio shorter than
  // the video it is muxed with): refused naming the file and the factors.
  const std::string dir = Components().dir;
  PipelineOptions no_time_conv = FullOptions();
  no_time_conv.components.video_vae = WithoutTensors(Components().files.video_vae, "time_conv",
                                                     dir + "/vae_no_time_conv.safetensors");
  s = LoadTiny(no_time_conv).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "vae_no_time_conv.safetensors")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "Ovi's latents need 4 and 16")) << s;

  PipelineOptions no_upsample = FullOptions();
  no_upsample.components.audio_vae = WithoutTensors(Components().files.audio_vae, "upsample",
                                                    dir + "/mmaudio_no_upsample.safetensors");
  s = LoadTiny(no_upsample).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "mmaudio_no_upsample.safetensors")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "Ovi's audio needs 512")) << s;
}

}  // namespace
}  // namespace ovid::testing
