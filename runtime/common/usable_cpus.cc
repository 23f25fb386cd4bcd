#include "runtime/common/usable_cpus.h"

#include <sched.h>

namespace hilo {

int UsableCpus() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0) return 1;
  const int count = CPU_COUNT(&cpus);
  return count > 0 ? count : 1;
}

}  // namespace hilo
