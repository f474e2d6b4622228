# FlashInfer's headers for kernels/cuda/sm90 (Hopper attention). They come from the PyPI package
# flashinfer-python, pinned in scripts/requirements-nodeps.txt and installed without its Python
# dependencies: ovid compiles its CUDA templates and uses none of its Python. Looked for in
#   OVID_FLASHINFER_DIR (its `data` folder), then .flashinfer/ (what bench/pack-flashinfer.sh
#   copies for the GPU machine, which has no package registry), then the venv's package.
# Sets OVID_FLASHINFER (TRUE when found and sm_90a is built) and OVID_FLASHINFER_INCLUDE_DIRS.
set(OVID_FLASHINFER_DIR "" CACHE PATH "flashinfer-python's data folder (include/, cutlass/, cccl/)")
set(OVID_FLASHINFER FALSE)
if(OVID_CUDA AND "90a" IN_LIST OVID_CUDA_ARCHS)
  set(candidates ${OVID_FLASHINFER_DIR} ${OVID_ROOT}/.flashinfer)
  file(GLOB venv_data ${OVID_ROOT}/.venv/lib/python3*/site-packages/flashinfer/data)
  list(APPEND candidates ${venv_data})
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
    message(STATUS "ovid: no FlashInfer headers (scripts/install-venv.sh installs them): "
                   "attention stays with LibTorch's kernels")
  endif()
endif()
