#!/usr/bin/env bash
# Packs hilo's GPU checks into .gpu/ for a GPU machine that has CUDA, a CUDA torch and a compiler
# but neither Bazel nor Debian's libraries (the `device` machines: Ubuntu, Python 3.12):
#   * the CUDA test binaries, the kernel benchmark and the launcher hilorun, with Bazel's
#     per-target shared libraries;
#   * libhilo_all.so (everything the Python binding links, without the binding) and the headers
#     the binding includes, so that tools/gpu/prepare.sh compiles _hilo.so there against that
#     machine's Python and pybind11;
#   * root.tar.gz: the Debian libraries those need and OpenMPI, at their own paths, unpacked there
#     without overwriting anything.
# CUDA's runtime and NCCL are not packed: the GPU machine's own are used (NCCL alone is 200 MiB).
#   tools/gpu/pack.sh && <run on the GPU machine, carrying .gpu>: bash tools/gpu/run_checks.sh
#   (or bash tools/gpu/run_main_job.sh [compare.py arguments]: the main job on that machine's cores)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
root=$PWD
B=.gpu
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
targets="//kernels/cuda:divide_test //kernels/cuda:cuda_kernel_set_test
  //runtime/transport/nccl:nccl_communicator_test //tests/mpi:device_tensors_gpu_mpi_test
  //tools/bench:kernel_bench //tools/launcher:hilorun //client/python:python_package"
bazel build $targets
rm -rf $B; mkdir -p $B/bin $B/py $B/inc $B/solib
for t in kernels/cuda/divide_test kernels/cuda/cuda_kernel_set_test \
         runtime/transport/nccl/nccl_communicator_test tests/mpi/device_tensors_gpu_mpi_test \
         tools/bench/kernel_bench tools/launcher/hilorun; do
  cp bazel-bin/$t $B/bin/
done
cp -L bazel-bin/_solib_k8/*.so $B/solib/
exec_root=$(bazel info execution_root)
bin=$exec_root/bazel-out/k8-fastbuild/bin
# The binding's link, less the binding's own object, as one shared library.
grep -v -e 'start-lib' -e 'end-lib' -e 'hilo_python.pic.o' -e '^-o$' -e '_hilo.so$' -e '^-Wl,-S$' \
  $bin/client/python/_hilo.so-2.params > $B/py/link.params
(cd "$exec_root" && gcc @"$root/$B/py/link.params" -Wl,-soname,libhilo_all.so -o "$root/$B/py/libhilo_all.so")
rm $B/py/link.params
# Headers the binding includes beyond the standard library's, Python's and pybind11's.
for h in $(tr ' \\' '\n\n' < $bin/client/python/_objs/_hilo.so/hilo_python.pic.d |
           grep -e '^/usr/include/absl' -e '^/usr/include/google'); do
  mkdir -p $B/inc/$(dirname ${h#/usr/include/}); cp $h $B/inc/${h#/usr/include/}
done
mkdir -p $B/inc/proto && cp $bin/proto/negotiation.pb.h $B/inc/proto/
mkdir -p $B/pb && cp -r /usr/include/pybind11 $B/pb/  # only where that machine has none
# Debian's libraries at their own paths: OpenMPI's packages and what every binary needs, less the C
# and C++ runtimes, the driver and CUDA's own.
pkgs="openmpi-bin libopenmpi3 openmpi-common libpmix2 libhwloc15 libhwloc-plugins libevent-2.1-7
  libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0 libibverbs1 ibverbs-providers
  librdmacm1 libpsm2-2 libpsm-infinipath1 libmunge2"
files=$(for p in $pkgs; do dpkg -L $p; done | grep -v -e '^/usr/share/doc' -e '^/usr/share/man' \
  -e '^/usr/share/lintian' | sort -u | while read -r f; do
  if [ ! -d "$f" ] && { [ -f "$f" ] || [ -L "$f" ]; }; then echo "$f"; fi; done)
skip='linux-vdso|ld-linux|/libc\.so|/libm\.so|libpthread|libdl\.so|librt\.so|libstdc\+\+|libgcc_s|libcuda\.so|libnccl|libcudart|libnvidia'
objects="$(ls $B/bin/* $B/solib/* $B/py/libhilo_all.so) $(echo "$files" | grep '\.so')"
libs=$(for o in $objects; do LD_LIBRARY_PATH=$B/solib ldd $o 2>/dev/null | awk '/=> \//{print $3}'; done |
       sort -u | grep -v -E "$skip" | grep -v "$root")
all=$( (echo "$files"; for l in $libs; do echo "$l"; readlink -f "$l"; done) | sort -u)
link_dir=$(mktemp -d); ln -s /usr/bin/orterun $link_dir/mpirun
tar -czf $B/root.tar.gz $all $link_dir/mpirun 2>/dev/null \
  --transform "s|^${link_dir#/}/mpirun|usr/bin/mpirun|;s|^lib/|usr/lib/|"
rm -r $link_dir
du -sh $B
