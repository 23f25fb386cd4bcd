// Where a job's ranks come from and how they reach each other: the runtime's bootstrap.
//
// A Session tells a rank its place in the job and makes the communicators the runtime builds on
// (the world, and splits of it: groups and cross sets). MPI's is the job's (mpi/mpi_session.h); the
// in-process one runs threads of one process as the ranks of a job (local/local_session.h), so that
// the whole runtime runs in unit tests without mpirun.
//
// A session and its communicators are used by one thread (the coordinator); communicators go
// before their session.
#ifndef HILO_RUNTIME_TRANSPORT_SESSION_H_
#define HILO_RUNTIME_TRANSPORT_SESSION_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/transport/communicator.h"
#include "runtime/transport/control_channel.h"

namespace hilo::transport {

// This rank's member of a communicator the session made: the data path and the control channel
// in one object, with the pacing of its control waits.
class RankCommunicator : public Communicator, public ControlChannel {
 public:
  int rank() const override = 0;
  int size() const override = 0;
  // How long a control wait keeps polling (yielding the CPU) before it sleeps between polls.
  virtual void set_control_spin(absl::Duration spin) = 0;
  // How long a control wait may last before it fails with DEADLINE_EXCEEDED (zero: no limit).
  virtual void set_control_timeout(absl::Duration timeout) = 0;
};

class Session {
 public:
  virtual ~Session() = default;

  virtual int world_rank() const = 0;
  virtual int world_size() const = 0;
  // This rank's place among the job's ranks on its machine.
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  // Whether threads other than the coordinator may use the session's transport at the same time
  // (MPI_THREAD_MULTIPLE).
  virtual bool thread_multiple() const = 0;

  // A communicator over every rank of the job. Collective over the world.
  virtual absl::StatusOr<std::unique_ptr<RankCommunicator>> World(const std::string& name) = 0;
  // Ranks with the same color form a communicator, ordered by key (MPI_Comm_split). Collective
  // over the world.
  virtual absl::StatusOr<std::unique_ptr<RankCommunicator>> Split(int color, int key,
                                                                  const std::string& name) = 0;
};

// Opens the job's session. The runtime calls it on its coordinator thread: MPI wants the thread
// that initializes it to be the one that uses it.
using SessionOpener = std::function<absl::StatusOr<std::unique_ptr<Session>>()>;

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_SESSION_H_
