// File: server/civetweb_stack.cc
// Keeps civetweb (the HTTP server under prometheus-cpp's Exposer) able to start threads in a
// process that has LibTorch's CUDA libraries loaded.
//
// Debian's civetweb creates every thread with a fixed 100 KiB stack
// (pthread_attr_setstacksize(&attr, 102400), its CIVETWEB_THREAD_STACK_SIZE default). glibc
// carves a new thread's static TLS out of that stack, and the CUDA libraries the PyPI torch
// wheel brings in have a lot of it (libcublasLt ~94 KB, libtorch_cpu ~26 KB, libcublas ~12 KB):
// together more than 100 KiB, so pthread_create fails, civetweb logs "Cannot create threads" and
// prometheus-cpp throws "null context when constructing CivetServer".
//
// The fix here: define pthread_attr_setstacksize in the executable. The dynamic linker binds
// libcivetweb's call to the executable's definition first, so every stack size asked for below
// 1 MiB is raised to 1 MiB (room for the TLS plus civetweb's ~100 KiB of frames), then passed on
// to glibc's own function, found with dlsym(RTLD_NEXT). Larger requests and every other caller
// are unaffected except for a bit more address space (stacks are reserved lazily).
//
// Linking: only an object that is part of the link defines the symbol. Nothing calls this file
// by name, so as a member of a static library it would be dropped by the linker; it is built as
// the OBJECT library ovid_civetweb_stack (server/metrics.cmake), whose object goes into every
// executable that links ovid_server_metrics. The definition must also be in the executable's
// dynamic symbol table for libcivetweb's lookup to see it: ld puts it there by itself because a
// linked shared library (libcivetweb, reached through libprometheus-cpp-pull) references it, and
// --export-dynamic-symbol keeps that true however the link changes.
//
// Checked on the cpu preset (PyPI torch 2.11.0+cu130): metrics_test relinked without this object
// fails MetricsExposerTest.ServesTheMetricsOnAPickedPort (pthread_create: EINVAL, "null context
// when constructing CivetServer"); with it, the test passes.
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include <cstddef>

namespace {

constexpr size_t kMinThreadStack = size_t{1} << 20;  // 1 MiB

using SetStackSizeFn = int (*)(pthread_attr_t*, size_t);

SetStackSizeFn NextSetStackSize() {
  // Resolved once; the function-local static is thread-safe, and civetweb calls this from the
  // thread that starts the server, long after the dynamic linker has loaded libc.
  static const SetStackSizeFn next =
      reinterpret_cast<SetStackSizeFn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  return next;
}

}  // namespace

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t stack_size) {
  SetStackSizeFn next = NextSetStackSize();
  // Without glibc's function there is nothing to forward to; an error code (never an abort)
  // lets the caller fail the way it would for a bad size.
  if (next == nullptr) return ENOSYS;
  return next(attr, stack_size < kMinThreadStack ? kMinThreadStack : stack_size);
}
