# tests/server/metrics_tests.cmake, included from tests/server/CMakeLists.txt: the daemon's
# Prometheus metrics.
#
#   metrics_test           gtest: counters/histograms/gauges through JobObserver and
#                          MetricsSources, the /metrics server over a raw socket, and the civetweb
#                          thread-stack trap. Linked with LibTorch where it is built, because that
#                          is where the trap springs (server/civetweb_stack.cc).
#   ovid-metrics-selftest  ServerMetrics with fake sources driven through a fixed script, for
#   py.metrics_doc         the pytest that checks /metrics against docs/metrics.md and promtool.
if(NOT TARGET ovid_server_metrics)
  return()
endif()

ovid_gtest(metrics_test
  fake_pipeline.cc
  metrics_exposer_test.cc
  metrics_reasons_test.cc
  metrics_step_timer_test.cc
  metrics_test.cc
  metrics_test_util.cc
)
target_link_libraries(metrics_test PRIVATE ovid_server_metrics)
target_compile_options(metrics_test PRIVATE -Wno-missing-field-initializers)
if(OVID_TORCH)
  # A real LibTorch call (not just a link flag), so no --as-needed linker can drop the libraries
  # whose thread-local storage makes civetweb's 100 KiB stacks too small. Its own OBJECT
  # library with LibTorch PRIVATE: the torch libraries still reach metrics_test's link line, but
  # torch's include directories (which hold an old protobuf) stay away from the sources that
  # include the generated ovid/v1 protobuf headers.
  add_library(metrics_torch_probe OBJECT metrics_torch_test.cc)
  target_link_libraries(metrics_torch_probe PRIVATE ovid::torch GTest::gtest)
  ovid_torch_lean_headers(metrics_torch_probe)
  target_link_libraries(metrics_test PRIVATE metrics_torch_probe)
endif()

add_executable(ovid-metrics-selftest metrics_selftest.cc)
target_link_libraries(ovid-metrics-selftest PRIVATE ovid_server_metrics)
set_target_properties(ovid-metrics-selftest PROPERTIES
                      RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

ovid_pytest(metrics_doc ${CMAKE_CURRENT_SOURCE_DIR}/test_metrics_doc.py)
