# Sourced by run_checks.sh and run_main_job.sh on the GPU machine, from the repository root: unpacks
# the Debian libraries and OpenMPI of the bundle pack.sh made (.gpu/) without overwriting existing
# files, points LD_LIBRARY_PATH at that machine's NCCL and CUDA runtime and the bundle's libraries,
# and compiles the Python binding against that machine's Python, pybind11 and torch into the
# package folder .gpu/package (hilo/, hilo/torch/, hilo/_hilo.so). Sets binding_status (0 when the
# binding compiled).
tar -xzf .gpu/root.tar.gz -C / --skip-old-files && ldconfig
nccl=$(find / -xdev -name 'libnccl.so.2' ! -type d 2>/dev/null | head -1)
cudart=$(find / -xdev -name 'libcudart.so.13' ! -type d 2>/dev/null | head -1)
export LD_LIBRARY_PATH=$(dirname "$nccl"):$(dirname "$cudart"):$PWD/.gpu/solib
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; mpirun --version | head -1
for b in .gpu/bin/* .gpu/py/libhilo_all.so; do ldd "$b" | grep "not found" | sed "s|^|$b: |"; done

py_include=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['include'])")
pybind_include=$(python3 -c "import pybind11; print(pybind11.get_include())" 2>/dev/null || echo .gpu/pb)
package=$PWD/.gpu/package
rm -rf "$package"; mkdir -p "$package/hilo/torch"
cp client/python/hilo/*.py "$package/hilo/"
cp client/python/hilo/torch/*.py "$package/hilo/torch/"
g++ -std=c++17 -O2 -fPIC -shared -fvisibility=hidden -DOMPI_SKIP_MPICXX=1 -DNOMINMAX -I.gpu/inc -I. \
  -I"$pybind_include" -I"$py_include" client/python/hilo_python.cc -L.gpu/py -lhilo_all \
  -Wl,-rpath,"$PWD/.gpu/py" -o "$package/hilo/_hilo.so"
binding_status=$?
