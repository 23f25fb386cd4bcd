// The CPUs this process may run on (its affinity mask, e.g. as set by taskset, mpirun --bind-to
// or a container's cpuset), which is what "ranks outnumber CPUs" must be judged against: the
// machine's CPU count overstates it under binding. Shared by the runtime (whether control waits
// may poll) and hilorun (whether a local job is oversubscribed).
#ifndef HILO_RUNTIME_COMMON_USABLE_CPUS_H_
#define HILO_RUNTIME_COMMON_USABLE_CPUS_H_

namespace hilo {

// At least 1 (1 when the mask cannot be read).
int UsableCpus();

}  // namespace hilo

#endif  // HILO_RUNTIME_COMMON_USABLE_CPUS_H_
