// File: server/main.cc
// The ovid daemon: see server/daemon.h and `ovid --help`.
#include "server/daemon.h"

int main(int argc, char** argv) { return ovid::server::RunDaemon(argc, argv); }
