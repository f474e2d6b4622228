// File: tools/ovidctl/generate_cmd.cc
// `ovidctl generate`: start (or re-attach to) a job, show its progress, write and verify its
// outputs, print the paths and what the job actually ran with.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/ovidctl/commands.h"
#include "tools/ovidctl/connection.h"
#include "tools/ovidctl/follow.h"
#include "tools/ovidctl/format.h"
#include "tools/ovidctl/output_writer.h"
#include "tools/ovidctl/progress_view.h"
#include "tools/ovidctl/request_flags.h"

namespace ovidctl {
namespace {

void PrintSummary(const std::string& job_id, const ovid::v1::Final& f,
                  const std::vector<OutputWriter::Written>& written) {
  std::printf("job %s succeeded\n", job_id.c_str());
  for (const auto& w : written) {
    std::printf("wrote %s (%s, %s, sha256 %s)\n", w.path.c_str(),
                OutputFormatName(w.format).c_str(), HumanBytes(w.bytes).c_str(),
                w.sha256_hex.c_str());
  }
  const auto& p = f.parameters();
  std::vector<std::string> outputs;
  for (int o : p.outputs()) outputs.push_back(OutputFormatName(static_cast<ovid::v1::OutputFormat>(o)));
  std::printf("seed: %llu\n", static_cast<unsigned long long>(f.seed()));
  std::printf("parameters: %ux%u, %.2f s (%u video frames, %u audio samples), %u steps %s, "
              "shift %g, guidance video %g audio %g (%s), slg layer %d, outputs %s\n",
              p.width(), p.height(), p.duration_seconds(), p.video_frames(), p.audio_samples(),
              p.steps(), SolverName(p.solver()).c_str(), p.shift(), p.video_guidance(),
              p.audio_guidance(), p.guidance_batched() ? "passes batched" : "passes apart",
              p.slg_layer(), absl::StrJoin(outputs, ",").c_str());
  std::printf("timings: queue %.2f s, total %.2f s\n", f.queue_seconds(), f.total_seconds());
  for (const auto& s : f.stages()) {
    std::printf("  %-14s %9.2f s   peak VRAM %s\n", s.stage().c_str(), s.seconds(),
                HumanBytes(s.peak_vram_bytes()).c_str());
  }
  std::printf("peak VRAM: %s\n", HumanBytes(f.peak_vram_bytes()).c_str());
}

// Throws a UsageError unless `dir` is a directory. The error_code form: a symlink loop or a name
// too long throws filesystem_error from the plain one, which ended ovidctl through terminate.
void RequireDirectory(const std::string& dir, const std::string& flag) {
  std::error_code ec;
  const bool is_dir = std::filesystem::is_directory(dir, ec);
  const bool missing =
      ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
  if (ec && !missing) throw UsageError(absl::StrCat(flag, ": '", dir, "': ", ec.message()));
  if (!is_dir) throw UsageError(absl::StrCat(flag, ": '", dir, "' is not a directory"));
}

// Throws a UsageError unless this process may create files in `dir` (found out now, not after
// the whole job has run). access() asks with the real user, as a shell's test -w does.
void RequireWritable(const std::string& dir, const std::string& flag) {
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw UsageError(absl::StrCat(flag, ": cannot write in '", dir, "': ", std::strerror(errno)));
  }
}

// Where a failure lies, for the first words of its message.
enum class FailedPart {
  kCall,    // the call: the daemon unreachable, a refusal, a job id it does not know
  kJob,     // the job itself (its JobError)
  kOutput,  // ovidctl writing the job's outputs
  kMissing  // the job succeeded without an output an -o FILE asked for
};

std::string FailureSubject(const FollowResult& r, FailedPart part) {
  switch (part) {
    case FailedPart::kOutput:
      return absl::StrCat("job ", r.job_id, ": writing its output failed");
    case FailedPart::kMissing:
      return absl::StrCat("job ", r.job_id, " succeeded, but");
    case FailedPart::kJob:
      return absl::StrCat("job ", r.job_id, " failed");
    case FailedPart::kCall:
      break;
  }
  return r.job_id.empty() ? std::string("generate failed")
                          : absl::StrCat("generate (job ", r.job_id, ") failed");
}

}  // namespace

int RunGenerate(const std::vector<std::string>& argv) {
  std::vector<FlagSpec> extra = RequestFlags();
  extra.push_back({"out-dir"});
  extra.push_back({"output", true, true});
  extra.push_back({"job"});
  const Args args = Args::Parse(argv, WithGlobalFlags(extra));
  if (!args.positional().empty()) {
    throw UsageError(absl::StrCat("generate takes no arguments, got '", args.positional()[0], "'"));
  }
  const Connection conn(ConnectionOptionsFrom(args));
  std::optional<ovid::v1::GenerateRequest> request;
  std::string job_id;
  if (auto j = args.GetText("job")) {
    for (const FlagSpec& f : RequestFlags()) {
      if (args.Has(f.name)) throw UsageError(absl::StrCat("--job re-attaches; --", f.name,
                                                          " only applies to a new job"));
    }
    job_id = *j;
  } else {
    request = RequestFromFlags(args);
  }
  // -o FILE: the format from the extension, asked for unless --output-format already did.
  std::map<ovid::v1::OutputFormat, std::string> named;
  for (const std::string& path : args.All("output")) {
    const ovid::v1::OutputFormat f = OutputFormatForPath(path);
    if (f == ovid::v1::OUTPUT_FORMAT_UNSPECIFIED) {
      throw UsageError(absl::StrCat("-o/--output: '", path,
                                    "' must end in .mp4, .wav, .tar (PNG frames) or .safetensors "
                                    "(latents)"));
    }
    if (!named.emplace(f, path).second) {
      throw UsageError(absl::StrCat("-o/--output: two files for ", OutputFormatName(f)));
    }
    // Found out now, not after the whole job has run.
    const std::string flag = absl::StrCat("-o/--output (for '", path, "')");
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) RequireDirectory(parent.string(), flag);
    RequireWritable(parent.empty() ? "." : parent.string(), flag);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      throw UsageError(absl::StrCat("-o/--output: '", path, "' is a directory"));
    }
    if (request && std::find(request->outputs().begin(), request->outputs().end(), f) ==
                       request->outputs().end()) {
      request->add_outputs(f);
    }
  }
  const std::string out_dir = args.Get("out-dir").value_or(".");
  RequireDirectory(out_dir, "--out-dir");
  // Unless every output the request names has its -o file (a job re-attached with --job may
  // have any), some output lands in --out-dir.
  const bool all_named =
      request && !request->outputs().empty() &&
      std::all_of(request->outputs().begin(), request->outputs().end(),
                  [&](int f) { return named.count(static_cast<ovid::v1::OutputFormat>(f)) > 0; });
  if (!all_named) RequireWritable(out_dir, "--out-dir");

  ProgressView view(isatty(STDERR_FILENO) != 0, stderr);
  OutputWriter writer(out_dir);
  for (const auto& [format, path] : named) writer.SetPath(format, path);
  FollowHooks hooks;
  hooks.on_event = [&](const ovid::v1::GenerateEvent& ev) -> absl::Status {
    if (!ev.job_id().empty()) job_id = ev.job_id();
    if (ev.has_accepted()) view.Accepted(job_id, ev.accepted());
    if (ev.has_progress()) view.Progress(ev.progress());
    if (ev.has_chunk()) {
      if (absl::Status s = writer.Add(job_id, ev.chunk()); !s.ok()) return s;
      view.Chunk(ev.chunk());
    }
    return absl::OkStatus();
  };
  hooks.on_reattach = [&](int attempt, uint64_t from, const grpc::Status& why) {
    view.Reattach(attempt, from, absl::StrCat(StatusCodeName(why.error_code()), ": ",
                                              why.error_message()));
  };
  auto stub = ovid::v1::Generation::NewStub(conn.channel());
  FollowResult r = FollowJob(conn, *stub, request ? &*request : nullptr, job_id, hooks);
  view.Close();
  // Only the writer refuses events.
  FailedPart part = r.refused      ? FailedPart::kOutput
                    : r.job_failed ? FailedPart::kJob
                                   : FailedPart::kCall;
  if (r.error_code == 0) {
    if (absl::Status s = writer.Finish(); !s.ok()) {  // the stream ended inside an output
      r.error_code = static_cast<int>(s.code());
      r.error_message = std::string(s.message());
    }
  }
  if (r.error_code == 0) {
    // Each -o FILE was asked for; a job re-attached with --job may not have made that format.
    for (const auto& [format, path] : named) {
      const auto& done = writer.written();
      if (std::none_of(done.begin(), done.end(),
                       [&](const OutputWriter::Written& w) { return w.format == format; })) {
        r.error_code = static_cast<int>(absl::StatusCode::kNotFound);
        r.error_message = absl::StrCat("-o ", path, ": the job made no ", OutputFormatName(format),
                                       " output");
        part = FailedPart::kMissing;
        break;
      }
    }
  }
  if (r.error_code != 0) {
    const int rc = ReportFailure(FailureSubject(r, part), r.error_code, r.error_message);
    if (part == FailedPart::kOutput && !r.job_id.empty()) {
      std::fprintf(stderr,
                   "ovidctl: if the job finished (ovidctl jobs), the daemon keeps its outputs for "
                   "its --job-ttl after that: ovidctl generate --job %s [--out-dir DIR | -o FILE] "
                   "fetches them again\n",
                   r.job_id.c_str());
    }
    return rc;
  }
  PrintSummary(r.job_id, *r.final, writer.written());
  return 0;
}

}  // namespace ovidctl
