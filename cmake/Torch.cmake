# cmake/Torch.cmake: finds LibTorch for engine/tensor, engine/ops and everything above them.
#
# LibTorch comes from the PyPI torch wheel (shared spec platform.md): the same 2.11.0+cu130 build
# is in the repository's .venv here and in the GPU machine's system python, so one source tree
# builds on both. Lookup order: whatever CMAKE_PREFIX_PATH / Torch_DIR already name, then the
# prefix that ${OVID_ROOT}/.venv's python reports (torch.utils.cmake_prefix_path), then the
# system python3's.
#
# Defines, when found: the interface target ovid::torch (headers, libraries, ABI flag),
# OVID_TORCH_CUDA (ON when the wheel was built with CUDA; the compile definition
# OVID_TORCH_CUDA=1 then reaches every target linking ovid::torch), and
# ovid_torch_lean_headers(target).
option(OVID_TORCH "Build the LibTorch engine (engine/tensor, engine/ops and above)" ON)
set(OVID_TORCH_CUDA OFF)

if(OVID_TORCH)
  if(NOT Torch_DIR)
    foreach(python ${OVID_ROOT}/.venv/bin/python python3)
      execute_process(
          COMMAND ${python} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
          OUTPUT_VARIABLE torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
          RESULT_VARIABLE torch_rc ERROR_QUIET)
      if(torch_rc EQUAL 0 AND EXISTS "${torch_prefix}")
        # Appended, so a CMAKE_PREFIX_PATH given on the command line still wins.
        list(APPEND CMAKE_PREFIX_PATH "${torch_prefix}")
        break()
      endif()
    endforeach()
  endif()
  # The wheel's Caffe2 config would look for cuDNN/cuSPARSELt in the toolkit. The wheel carries
  # its own copies (nvidia-* packages) that libtorch_cuda finds at run time through its RPATH;
  # ovid never links them itself, so the toolkit's copies (present or not) must not matter.
  set(CAFFE2_USE_CUDNN OFF CACHE BOOL "")
  set(CAFFE2_USE_CUSPARSELT OFF CACHE BOOL "")
  set(USE_CUSPARSELT OFF CACHE BOOL "")
  # Torch's CUDA part needs a toolkit even where ovid builds no CUDA of its own (-DOVID_CUDA=OFF).
  if(NOT CUDAToolkit_ROOT AND EXISTS /usr/local/cuda)
    set(CUDAToolkit_ROOT /usr/local/cuda)
  endif()
  # Caffe2's config rewrites CMAKE_CUDA_ARCHITECTURES and appends its own architecture list to
  # CUDA_NVCC_FLAGS; ovid's kernels keep theirs (OVID_CUDA_ARCHS), so save and restore both.
  # A fixed TORCH_CUDA_ARCH_LIST skips its GPU auto-detection (ovid compiles no CUDA through it).
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "9.0")
  endif()
  set(ovid_saved_cuda_flags "${CMAKE_CUDA_FLAGS}")
  set(ovid_saved_nvcc_flags "${CUDA_NVCC_FLAGS}")
  set(ovid_saved_cuda_archs "${CMAKE_CUDA_ARCHITECTURES}")
  find_package(Torch CONFIG)
  set(CMAKE_CUDA_FLAGS "${ovid_saved_cuda_flags}")
  set(CUDA_NVCC_FLAGS "${ovid_saved_nvcc_flags}")
  set(CMAKE_CUDA_ARCHITECTURES "${ovid_saved_cuda_archs}")

  if(Torch_FOUND)
    add_library(ovid_torch INTERFACE)
    add_library(ovid::torch ALIAS ovid_torch)
    # TORCH_LIBRARIES carries torch's include directories and the CXX11 ABI definition.
    target_link_libraries(ovid_torch INTERFACE ${TORCH_LIBRARIES})
    if(TARGET torch_cuda)
      set(OVID_TORCH_CUDA ON)
      target_compile_definitions(ovid_torch INTERFACE OVID_TORCH_CUDA=1)
    endif()
    message(STATUS "ovid: LibTorch ${Torch_VERSION} (CUDA: ${OVID_TORCH_CUDA}) from ${Torch_DIR}")
  else()
    message(STATUS "ovid: LibTorch not found, building without the engine (OVID_TORCH=OFF)")
    set(OVID_TORCH OFF)
  endif()
endif()

# Restricts `target` to per-operator ATen headers (<ATen/ops/linear.h>, not <ATen/ATen.h> or
# <torch/torch.h>): a TU that pulls in every operator then fails to compile instead of silently
# costing ~25 s more of a 2-core build (such a TU measured ~4 s here with per-operator headers).
function(ovid_torch_lean_headers target)
  target_compile_definitions(${target} PRIVATE TORCH_ASSERT_ONLY_METHOD_OPERATORS)
endfunction()
