#!/usr/bin/env bash
# Runs hilo's GPU checks on a GPU machine from the bundle tools/gpu/pack.sh made (.gpu/), from the
# repository root: the CUDA kernel, NCCL and device-tensor tests, the Python CUDA tests (the
# binding compiled here against this machine's Python, pybind11 and torch) and the kernel
# benchmark. Prints "RC <check> <status>" for each and exits non-zero if any failed.
# As root: it unpacks Debian's libraries and OpenMPI into / without overwriting existing files.
log=${OUT:-/tmp}/gpu_checks.txt
exec > >(tee "$log") 2>&1
failed=()
step() { echo; echo "=== $* ($(date +%T))"; }
record() { echo "RC $1 $2"; [ "$2" = 0 ] || failed+=("$1"); }

step probe
nvidia-smi -L; grep PRETTY /etc/os-release; python3 --version; g++ --version | head -1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
step "unpack and compile the Python binding"
source tools/gpu/prepare.sh
record python_binding "$binding_status"

# Repeated: a missing stream ordering shows up only now and then.
for t in divide_test cuda_kernel_set_test nccl_communicator_test; do
  step "$t"; timeout 300 ".gpu/bin/$t" --gtest_repeat="${GTEST_REPEAT:-1}" --gtest_brief=1
  record "$t" $?
done
step device_tensors_gpu_np1
timeout 120 mpirun -np 1 --bind-to none -x LD_LIBRARY_PATH .gpu/bin/device_tensors_gpu_mpi_test
record device_tensors_gpu_np1 $?

step python_cuda_np1
PYTHONPATH=$package HILO_STALL_WARNING_SECONDS=10 HILO_STALL_SHUTDOWN_SECONDS=60 timeout 240 \
  mpirun -np 1 --bind-to none -x PYTHONPATH -x LD_LIBRARY_PATH -x HILO_STALL_WARNING_SECONDS \
  -x HILO_STALL_SHUTDOWN_SECONDS python3 -m pytest -v -p no:cacheprovider tests/python/test_cuda.py
record python_cuda_np1 $?

step kernel_bench
for run in 1 2; do
  timeout 120 .gpu/bin/kernel_bench --megabytes=64 --tensors=256 --repeats=50 || break
done
record kernel_bench $?
step summary
echo "failed: ${failed[*]:-none}"
[ ${#failed[@]} = 0 ]
