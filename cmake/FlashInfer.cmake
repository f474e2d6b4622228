# FlashInfer's headers for kernels/cuda/sm90 (Hopper attention). They come from the pinned PyPI
# wheel flashinfer-python, unpacked (headers only, not installed as a Python package) by
# scripts/install-flashinfer.sh: ovid compiles its CUDA templates and uses none of its Python.
# Looked for in OVID_FLASHINFER_DIR (a `data` folder), then .flashinfer/ (what
# bench/pack-flashinfer.sh copies for the GPU machine, which has no package registry), then
# .deps/flashinfer/data.
# Sets OVID_FLASHINFER (TRUE when found and sm_90a is built) and OVID_FLASHINFER_INCLUDE_DIRS.
set(OVID_FLASHINFER_DIR "" CACHE PATH "flashinfer-python's data folder (include/, cutlass/, cccl/)")
set(OVID_FLASHINFER FALSE)
if(OVID_CUDA AND "90a" IN_LIST OVID_CUDA_ARCHS)
  set(candidates ${OVID_FLASHINFER_DIR} ${OVID_ROOT}/.flashinfer ${OVID_ROOT}/.deps/flashinfer/data)
  foreach(dir IN LISTS candidates)
    if(EXISTS ${dir}/include/flashinfer/attention/hopper/prefill_sm90.cuh)
      set(OVID_FLASHINFER TRUE)
      set(OVID_FLASHINFER_INCLUDE_DIRS ${dir}/cccl/libcudacxx/include ${dir}/include
          ${dir}/cutlass/include ${dir}/cutlass/tools/util/include)
      message(STATUS "ovid: FlashInfer headers in ${dir}: Hopper attention kernel on")
      break()
    endif()
  endforeach()
  if(NOT OVID_FLASHINFER)
    message(STATUS "ovid: no FlashInfer headers (scripts/install-flashinfer.sh fetches them): "
                   "attention stays with LibTorch's kernels")
  endif()
endif()
