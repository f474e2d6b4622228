# server/metrics.cmake, included from server/CMakeLists.txt: the daemon's Prometheus metrics.
#
#   ovid_metrics_reasons  outcome/failure-reason label sets and admission error helpers (absl
#                         only, so the job runtime may link it without prometheus-cpp)
#   ovid_civetweb_stack   OBJECT library: the pthread_attr_setstacksize interposer that lets
#                         civetweb start threads next to LibTorch's CUDA libraries
#   ovid_server_metrics   ServerMetrics (JobObserver + /metrics server); carries the interposer
find_package(prometheus-cpp CONFIG REQUIRED)

add_library(ovid_metrics_reasons STATIC metrics_reasons.cc)
target_link_libraries(ovid_metrics_reasons PUBLIC absl::status absl::strings absl::str_format
                      absl::cord)
target_include_directories(ovid_metrics_reasons PUBLIC ${OVID_ROOT})

# An OBJECT library, not a static one: nothing calls pthread_attr_setstacksize by our name, so
# the linker would leave the member out of a static archive and libcivetweb would get glibc's
# function. --export-dynamic-symbol keeps the definition in the executable's dynamic symbol
# table, where libcivetweb's lookup finds it (ld exports it anyway while a linked shared library
# references it; the flag does not depend on that).
add_library(ovid_civetweb_stack OBJECT civetweb_stack.cc)
target_link_libraries(ovid_civetweb_stack INTERFACE ${CMAKE_DL_LIBS})
target_link_options(ovid_civetweb_stack INTERFACE
                    "LINKER:--export-dynamic-symbol=pthread_attr_setstacksize")

add_library(ovid_server_metrics STATIC
  metrics.cc
  metrics_exposer.cc
  metrics_process.cc
  metrics_state.cc
  metrics_step_timer.cc
)
target_link_libraries(ovid_server_metrics
                      PUBLIC ovid_metrics_reasons ovid_server_runtime prometheus-cpp::pull
                             prometheus-cpp::core absl::status absl::statusor absl::strings
                             absl::time absl::synchronization
                      # INTERFACE: the object goes onto the link line of every executable that
                      # links the metrics (CMake links an OBJECT library's objects only into its
                      # direct consumers, hence $<TARGET_OBJECTS>), never into the archive, where
                      # it would be one more droppable member; the target adds -ldl and the
                      # export flag. Link ovid_server_metrics, not ovid_civetweb_stack as well:
                      # the object twice would define the function twice.
                      INTERFACE $<TARGET_OBJECTS:ovid_civetweb_stack> ovid_civetweb_stack)
