// Process-level MPI state for hilo: initialization, the duplicated world, the node-local view,
// and the datatypes/reduction ops for float16 and bfloat16 that MPI lacks.
//
// Created and destroyed by the runtime's coordinator thread, which is the only thread that makes
// MPI calls in hilo. If the application initialized MPI itself (it must ask for at least
// MPI_THREAD_SERIALIZED), hilo uses it and leaves finalization to the application; otherwise
// hilo initializes MPI with MPI_THREAD_MULTIPLE and finalizes it when the session ends, after
// which MPI cannot be initialized again in this process (an MPI rule).
//
//   HILO_ASSIGN_OR_RETURN(std::unique_ptr<MpiSession> session, MpiSession::Create());
//   HILO_ASSIGN_OR_RETURN(auto group, session->Split(/*color=*/group_index, /*key=*/member, "group 0"));
//
// Communicators made by a session must be destroyed before it. MPI is per process, so at most one
// session exists at a time: Create() fails with FAILED_PRECONDITION while another is alive.
#ifndef HILO_RUNTIME_TRANSPORT_MPI_MPI_SESSION_H_
#define HILO_RUNTIME_TRANSPORT_MPI_MPI_SESSION_H_

#include <mpi.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/transport/mpi/mpi_communicator.h"
#include "runtime/transport/session.h"

namespace hilo::transport {

class MpiSession final : public Session {
 public:
  static absl::StatusOr<std::unique_ptr<MpiSession>> Create();
  ~MpiSession() override;

  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int world_rank() const override { return world_rank_; }
  int world_size() const override { return world_size_; }
  // Rank and count of this job's processes on this node (MPI_COMM_TYPE_SHARED).
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  // MPI was initialized with MPI_THREAD_MULTIPLE (by hilo or the application): other threads of
  // the program may call MPI themselves (Horovod's mpi_threads_supported()).
  bool thread_multiple() const override { return thread_level_ >= MPI_THREAD_MULTIPLE; }

  // A communicator over every rank of the job, private to hilo (a duplicate of MPI_COMM_WORLD).
  absl::StatusOr<std::unique_ptr<RankCommunicator>> World(const std::string& name) override;

  // MPI_Comm_split of the world: ranks with the same color form a communicator, ordered by key.
  // Collective over the world.
  absl::StatusOr<std::unique_ptr<RankCommunicator>> Split(int color, int key,
                                                          const std::string& name) override;

 private:
  MpiSession() = default;
  absl::Status Initialize();
  // Initialize's steps: the world's duplicate and this rank's place on its node; the datatypes
  // and reduction ops of every dtype.
  absl::Status FindPlace();
  absl::Status CreateTypes();

  // Whether this object holds the process's one session slot (released on destruction).
  bool holds_slot_ = false;

  bool finalize_on_destruction_ = false;
  MPI_Comm world_ = MPI_COMM_NULL;
  int thread_level_ = MPI_THREAD_SINGLE;
  int world_rank_ = 0;
  int world_size_ = 0;
  int local_rank_ = 0;
  int local_size_ = 0;
  MpiTypeTable types_;
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_MPI_MPI_SESSION_H_
