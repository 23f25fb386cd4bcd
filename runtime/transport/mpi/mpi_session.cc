#include "runtime/transport/mpi/mpi_session.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "kernels/reduce.h"
#include "runtime/common/status_macros.h"

namespace hilo::transport {
namespace {

// MPI user functions cannot carry state, so there is one per 16-bit format. `len` counts
// elements of the 2-byte datatype the op was called with.
void SumFloat16(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  kernels::SumInto(inout, in, *len, DataType::kFloat16);
}

void SumBFloat16(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  kernels::SumInto(inout, in, *len, DataType::kBFloat16);
}

// The same for min, max and product.
template <kernels::Reduction kOp, DataType kDtype>
void Reduce16(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  kernels::ReduceInto(inout, in, *len, kDtype, kOp);
}

absl::Status Check(int code, absl::string_view call) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  return MpiError(code, call, "world", -1);
}

// MPI is one per process, so is hilo's use of it: a second live session would finalize MPI under
// the first one. This flag is the one piece of process-wide state in hilo, and it mirrors MPI's.
std::atomic<bool> session_alive{false};

}  // namespace

absl::StatusOr<std::unique_ptr<MpiSession>> MpiSession::Create() {
  bool expected = false;
  if (!session_alive.compare_exchange_strong(expected, true)) {
    return absl::FailedPreconditionError(
        "hilo is already initialized in this process; shut it down before initializing again");
  }
  std::unique_ptr<MpiSession> session(new MpiSession());
  session->holds_slot_ = true;
  HILO_RETURN_IF_ERROR(session->Initialize());
  return session;
}

absl::Status MpiSession::Initialize() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) {
    return absl::FailedPreconditionError(
        "MPI has already been finalized in this process (hilo can be initialized again only if "
        "the application keeps MPI initialized itself)");
  }
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    HILO_RETURN_IF_ERROR(
        Check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread"));
    finalize_on_destruction_ = true;
    thread_level_ = provided;
    if (provided < MPI_THREAD_SERIALIZED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this MPI provides thread level ", provided,
          "; hilo needs at least MPI_THREAD_SERIALIZED to run MPI on its coordinator thread"));
    }
  } else {
    int provided = 0;
    MPI_Query_thread(&provided);
    thread_level_ = provided;
    if (provided < MPI_THREAD_SERIALIZED) {
      return absl::FailedPreconditionError(
          "MPI was initialized by the application below MPI_THREAD_SERIALIZED; hilo makes MPI "
          "calls from its own coordinator thread, so call MPI_Init_thread with "
          "MPI_THREAD_MULTIPLE (or let hilo initialize MPI)");
    }
  }

  HILO_RETURN_IF_ERROR(FindPlace());
  return CreateTypes();
}

absl::Status MpiSession::FindPlace() {
  HILO_RETURN_IF_ERROR(Check(MPI_Comm_dup(MPI_COMM_WORLD, &world_), "MPI_Comm_dup"));
  MPI_Comm_set_errhandler(world_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(world_, &world_rank_);
  MPI_Comm_size(world_, &world_size_);

  MPI_Comm node = MPI_COMM_NULL;
  HILO_RETURN_IF_ERROR(Check(
      MPI_Comm_split_type(world_, MPI_COMM_TYPE_SHARED, world_rank_, MPI_INFO_NULL, &node),
      "MPI_Comm_split_type"));
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
  return absl::OkStatus();
}

absl::Status MpiSession::CreateTypes() {
  types_.datatype[static_cast<size_t>(DataType::kFloat32)] = MPI_FLOAT;
  types_.datatype[static_cast<size_t>(DataType::kFloat64)] = MPI_DOUBLE;
  types_.datatype[static_cast<size_t>(DataType::kInt32)] = MPI_INT32_T;
  types_.datatype[static_cast<size_t>(DataType::kInt64)] = MPI_INT64_T;
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat64, DataType::kInt32, DataType::kInt64}) {
    const size_t index = static_cast<size_t>(dtype);
    types_.sum[index] = MPI_SUM;
    types_.reduction[static_cast<size_t>(kernels::Reduction::kMin)][index] = MPI_MIN;
    types_.reduction[static_cast<size_t>(kernels::Reduction::kMax)][index] = MPI_MAX;
    types_.reduction[static_cast<size_t>(kernels::Reduction::kProduct)][index] = MPI_PROD;
  }
  // 16-bit floats: opaque 2-byte elements (so MPI moves them untouched) with a commutative
  // user-defined sum. Commutative lets MPI pick its fast algorithms; IEEE addition is
  // commutative, so every rank still gets bit-identical results.
  for (auto [dtype, fn] : {std::pair{DataType::kFloat16, &SumFloat16},
                           std::pair{DataType::kBFloat16, &SumBFloat16}}) {
    const size_t index = static_cast<size_t>(dtype);
    HILO_RETURN_IF_ERROR(Check(MPI_Type_contiguous(2, MPI_BYTE, &types_.datatype[index]),
                               "MPI_Type_contiguous"));
    HILO_RETURN_IF_ERROR(Check(MPI_Type_commit(&types_.datatype[index]), "MPI_Type_commit"));
    HILO_RETURN_IF_ERROR(Check(MPI_Op_create(fn, /*commute=*/1, &types_.sum[index]), "MPI_Op_create"));
  }
  // Min, max and product of 16-bit floats: the same kind of user-defined operation.
  using Reduction = kernels::Reduction;
  const std::array<std::tuple<Reduction, DataType, MPI_User_function*>, 6> reductions = {{
      {Reduction::kMin, DataType::kFloat16, &Reduce16<Reduction::kMin, DataType::kFloat16>},
      {Reduction::kMax, DataType::kFloat16, &Reduce16<Reduction::kMax, DataType::kFloat16>},
      {Reduction::kProduct, DataType::kFloat16,
       &Reduce16<Reduction::kProduct, DataType::kFloat16>},
      {Reduction::kMin, DataType::kBFloat16, &Reduce16<Reduction::kMin, DataType::kBFloat16>},
      {Reduction::kMax, DataType::kBFloat16, &Reduce16<Reduction::kMax, DataType::kBFloat16>},
      {Reduction::kProduct, DataType::kBFloat16,
       &Reduce16<Reduction::kProduct, DataType::kBFloat16>},
  }};
  for (const auto& [op, dtype, fn] : reductions) {
    HILO_RETURN_IF_ERROR(Check(
        MPI_Op_create(fn, /*commute=*/1,
                      &types_.reduction[static_cast<size_t>(op)][static_cast<size_t>(dtype)]),
        "MPI_Op_create"));
  }
  return absl::OkStatus();
}

MpiSession::~MpiSession() {
  for (DataType dtype : {DataType::kFloat16, DataType::kBFloat16}) {
    const size_t index = static_cast<size_t>(dtype);
    if (types_.sum[index] != MPI_OP_NULL && types_.sum[index] != 0) MPI_Op_free(&types_.sum[index]);
    for (auto& by_dtype : types_.reduction) {
      if (by_dtype[index] != MPI_OP_NULL && by_dtype[index] != 0) MPI_Op_free(&by_dtype[index]);
    }
    if (types_.datatype[index] != MPI_DATATYPE_NULL && types_.datatype[index] != 0) {
      MPI_Type_free(&types_.datatype[index]);
    }
  }
  if (world_ != MPI_COMM_NULL) MPI_Comm_free(&world_);
  if (finalize_on_destruction_) MPI_Finalize();
  if (holds_slot_) session_alive.store(false);
}

absl::StatusOr<std::unique_ptr<RankCommunicator>> MpiSession::World(const std::string& name) {
  MPI_Comm comm = MPI_COMM_NULL;
  HILO_RETURN_IF_ERROR(Check(MPI_Comm_dup(world_, &comm), "MPI_Comm_dup"));
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  return std::make_unique<MpiCommunicator>(comm, name, &types_);
}

absl::StatusOr<std::unique_ptr<RankCommunicator>> MpiSession::Split(int color, int key,
                                                                   const std::string& name) {
  MPI_Comm comm = MPI_COMM_NULL;
  HILO_RETURN_IF_ERROR(Check(MPI_Comm_split(world_, color, key, &comm), "MPI_Comm_split"));
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  return std::make_unique<MpiCommunicator>(comm, name, &types_);
}

}  // namespace hilo::transport
