// File: server/daemon.h
// The ovid process from start to exit: configuration, listeners (API, plaintext health,
// metrics), loading and warming the model while health already answers, serving, and the drain
// on SIGTERM/SIGINT or on a sticky device error. main() only calls RunDaemon.
#pragma once

namespace ovid::server {

// Exit codes: 0 after a signal-initiated drain (or --help), 1 when the model cannot be loaded or
// a device fault forced the exit (so Kubernetes restarts the pod), 2 for bad flags or files.
int RunDaemon(int argc, char** argv);

}  // namespace ovid::server
