// File: tools/ovidctl/main.cc
// ovidctl: command-line client of the ovid daemon. Dispatches to the subcommands and maps
// failures to exit codes: 0 ok, 1 the call or the job failed, 2 a usage error.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/gguf/atomic_file.h"
#include "tools/ovidctl/args.h"
#include "tools/ovidctl/commands.h"
#include "tools/ovidctl/format.h"

namespace ovidctl {

int ReportFailure(const std::string& what, int code, const std::string& message) {
  std::fprintf(stderr, "ovidctl: %s: %s: %s\n", what.c_str(), StatusCodeName(code).c_str(),
               message.c_str());
  return 1;
}

std::vector<FlagSpec> WithGlobalFlags(const std::vector<FlagSpec>& extra) {
  std::vector<FlagSpec> all = GlobalFlags();
  all.insert(all.end(), extra.begin(), extra.end());
  return all;
}

namespace {

constexpr char kUsage[] = R"(usage: ovidctl [global flags] COMMAND [flags]

commands:
  generate   start a job (or --job ID to re-attach to one), stream its progress, write outputs
             --embedding FILE.safetensors (tensors context [, video_negative, audio_negative])
               | --prompt TEXT        [--first-frame IMAGE]
             --width N --height N --duration S --steps N --solver unipc|euler|dpmpp --shift X
             --video-guidance X --audio-guidance X --slg-layer N --seed N
             --output-format latents|mp4|wav|png_frames (repeatable) --client-request-id ID
             --keep (the job survives a lost connection, not --timeout) --out-dir DIR
               (default .)
             --priority N (-100..100, higher starts first; default 0)
             --max-queue-seconds S (give up if the job has not started after S seconds)
             -o/--output FILE (repeatable): write that output to FILE; its extension picks
               and requests the format: .mp4, .wav, .tar (PNG frames), .safetensors (latents)
             --job ID (follow an existing job instead of starting one)
  jobs       list jobs: id, state, progress, created   [--state STATE (repeatable)] [--json]
  job ID     one job: state, times, progress, error     [--json]
  cancel ID  cancel a job and wait for it to stop; prints the state it ended in
             [--wait S: follow it for up to S seconds, exit 1 if it has not stopped by
             then (default 60; 0: print the server's answer as it is)]
  model      what the daemon has loaded               [--json]
  health     gRPC health status: by default the process's (alive, also while the model
             loads); --service ovid.v1.Generation: ready for jobs   [--service NAME]

global flags:
  --address HOST:PORT   daemon address (default localhost:50051, env OVID_ADDRESS; port 50051
                        when none is given)
  --token T | --token-file F   bearer token (env OVID_TOKEN; prefer the file or the variable:
                               a --token value shows in the process list and shell history)
  --tls-ca PEM          verify the server with this CA (enables TLS)
  --tls-cert PEM --tls-key PEM   client certificate for mTLS
  --timeout SECONDS     deadline of the whole command; for generate it is the call's
                        deadline, which the daemon enforces by stopping the job (--keep too)

exit codes: 0 ok, 1 the call or the job failed (health: not SERVING), 2 usage error
)";

bool WantsHelp(const std::string& command, const std::vector<std::string>& rest) {
  if (command == "help" || command == "--help" || command == "-h") return true;
  for (const std::string& a : rest) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>&);
};
constexpr Command kCommands[] = {{"generate", RunGenerate}, {"jobs", RunJobs},
                                 {"job", RunJob},           {"cancel", RunCancel},
                                 {"model", RunModel},       {"health", RunHealth}};

}  // namespace
}  // namespace ovidctl

int main(int argc, char** argv) {
  using namespace ovidctl;
  // Ctrl-C or a kill while outputs download removes their unfinished files.
  ovid::gguf::RemoveTempFilesOnSignals();
  std::vector<std::string> rest;
  const std::string command = SplitCommand(argc, argv, &rest);
  if (WantsHelp(command, rest)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  try {
    if (command.empty()) {
      // `ovidctl --address health`: the command went as the flag's value.
      for (size_t i = 0; i + 1 < rest.size(); ++i) {
        for (const Command& known : kCommands) {
          if (rest[i + 1] == known.name) {
            throw UsageError(absl::StrCat("no command given ('", known.name,
                                          "' was taken as the value of ", rest[i], ")"));
          }
        }
      }
      throw UsageError("no command given");
    }
    for (const Command& c : kCommands) {
      if (command == c.name) return c.run(rest);
    }
    throw UsageError(absl::StrCat("unknown command '", command, "'"));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "ovidctl: %s\n(ovidctl --help lists the commands and flags)\n", e.what());
    return 2;
  }
}
