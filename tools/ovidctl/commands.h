// File: tools/ovidctl/commands.h
// ovidctl's subcommands. Each takes the arguments after the command name (global flags
// included), returns the exit code (0 ok, 1 the call or the job failed) and throws UsageError for
// exit code 2.
#pragma once

#include <string>
#include <vector>

#include "tools/ovidctl/args.h"

namespace ovidctl {

int RunGenerate(const std::vector<std::string>& args);
int RunJobs(const std::vector<std::string>& args);
int RunJob(const std::vector<std::string>& args);
int RunCancel(const std::vector<std::string>& args);
int RunModel(const std::vector<std::string>& args);
int RunHealth(const std::vector<std::string>& args);

// Prints "ovidctl: <what>: <CODE_NAME>: <message>" to stderr and returns 1.
int ReportFailure(const std::string& what, int code, const std::string& message);

// Global flags plus `extra`: the flag set of one command.
std::vector<FlagSpec> WithGlobalFlags(const std::vector<FlagSpec>& extra);

}  // namespace ovidctl
