/* hilo — C ABI of the hilo communication runtime.
 *
 * One header, usable from C, C++ and through FFI (ctypes, cffi). Opaque handles, plain enums,
 * every call returns a hilo_status_t (HILO_OK = 0); on failure, hilo_last_error() returns a
 * message for the calling thread. No call ever aborts the process on bad input.
 *
 * Typical use, on every rank of an MPI job (e.g. `mpirun -np 8 -x HILO_GROUP_SIZE=4 ./train`):
 *
 *   hilo_context_t* ctx;
 *   if (hilo_init(&ctx) != HILO_OK) { fprintf(stderr, "%s\n", hilo_last_error()); return 1; }
 *   int64_t shape[1] = {1024};
 *   hilo_collective_options_t opts;
 *   hilo_collective_options_init(&opts);
 *   opts.communicator = HILO_COMM_GROUP;
 *   opts.reduce_op = HILO_AVERAGE;
 *   hilo_handle_t* h;
 *   hilo_allreduce_async(ctx, "grad/w1", grads, HILO_FLOAT32, 1, shape, &opts, &h);
 *   ... overlap other work ...
 *   if (hilo_wait(h, -1) != HILO_OK) fprintf(stderr, "%s\n", hilo_handle_message(h));
 *   hilo_handle_free(h);
 *   hilo_shutdown(ctx);
 *   hilo_context_free(ctx);
 *
 * Threads: every function may be called from any thread. Enqueue calls never block on the
 * network: they queue the tensor for hilo's background coordinator thread and return a handle.
 * Memory: tensor memory belongs to the caller and must stay valid, untouched, until the handle
 * is done. Allreduce and broadcast work in place; allgather's result is owned by the handle.
 */
#ifndef HILO_CLIENT_HILO_H_
#define HILO_CLIENT_HILO_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes. The values match absl::StatusCode / gRPC status codes. */
typedef enum hilo_status {
  HILO_OK = 0,
  HILO_CANCELLED = 1,
  HILO_UNKNOWN = 2,
  HILO_INVALID_ARGUMENT = 3,   /* bad input, or ranks disagree about a tensor */
  HILO_DEADLINE_EXCEEDED = 4,  /* a wait timed out (the operation is still in flight) */
  HILO_NOT_FOUND = 5,
  HILO_ALREADY_EXISTS = 6,     /* a tensor of that name is already in flight */
  HILO_PERMISSION_DENIED = 7,
  HILO_RESOURCE_EXHAUSTED = 8,
  HILO_FAILED_PRECONDITION = 9, /* not initialized, already shut down, misuse */
  HILO_ABORTED = 10,
  HILO_OUT_OF_RANGE = 11,
  HILO_UNIMPLEMENTED = 12,
  HILO_INTERNAL = 13,          /* a bug in hilo */
  HILO_UNAVAILABLE = 14,       /* the transport or a peer failed */
  HILO_DATA_LOSS = 15,
  HILO_UNAUTHENTICATED = 16,
  HILO_IN_PROGRESS = 100       /* hilo_handle_status: not done yet */
} hilo_status_t;

typedef enum hilo_dtype {
  HILO_FLOAT32 = 0,
  HILO_FLOAT64 = 1,
  HILO_FLOAT16 = 2,  /* IEEE binary16, passed as raw 16-bit values */
  HILO_BFLOAT16 = 3, /* bfloat16, passed as raw 16-bit values */
  HILO_INT32 = 4,
  HILO_INT64 = 5
} hilo_dtype_t;

/* Which of this rank's three communicators a collective runs on (see docs/architecture.md). */
typedef enum hilo_communicator {
  HILO_COMM_WORLD = 0, /* all ranks */
  HILO_COMM_GROUP = 1, /* the ranks of this rank's group */
  HILO_COMM_CROSS = 2  /* one rank per group: the ranks with this rank's position in its group */
} hilo_communicator_t;

typedef enum hilo_reduce_op {
  HILO_SUM = 0,
  HILO_AVERAGE = 1, /* sum / communicator size; integers truncate toward zero */
  HILO_MIN = 2,     /* element-wise over the ranks */
  HILO_MAX = 3,
  HILO_PRODUCT = 4  /* integer products wrap */
} hilo_reduce_op_t;

typedef struct hilo_context hilo_context_t;
typedef struct hilo_handle hilo_handle_t;

/* Called once when an operation completes, on hilo's coordinator thread (an averaging round's on
 * hilo's averaging thread when it ran there: HILO_AVERAGING_THREAD), before hilo_wait on its
 * handle returns: keep it short, and do not wait on hilo handles inside it (the handle does not
 * poll as done until the callback has returned). `message` is "" on success and valid only
 * during the call. */
typedef void (*hilo_completion_callback_t)(hilo_status_t status, const char* message, void* arg);

/* Options of one collective. Initialize with hilo_collective_options_init, then set fields:
 * new fields are only ever appended, and struct_size tells hilo which ones the caller knows. */
typedef struct hilo_collective_options {
  size_t struct_size;
  hilo_communicator_t communicator; /* default HILO_COMM_WORLD */
  hilo_reduce_op_t reduce_op;       /* allreduce only; default HILO_SUM */
  int root_rank;                    /* broadcast only: rank within the communicator; default 0 */
  hilo_completion_callback_t callback; /* optional */
  void* callback_arg;
  /* -1 (default): `data` is host memory. Otherwise the CUDA device it is on (builds with CUDA;
   * allreduce and broadcast): the tensor goes over NCCL. */
  int device;
  /* Device tensors: a cudaEvent_t recorded on the framework's stream after the tensor was
   * produced, or NULL. hilo's stream waits for it; the calling thread never does. */
  void* ready_event;
} hilo_collective_options_t;

/* Fills `options` with the defaults above. */
void hilo_collective_options_init(hilo_collective_options_t* options);

/* Starts hilo on this rank. Collective: every rank of the MPI job calls it. Reads HILO_*
 * environment variables (docs/configuration.md), initializes MPI if the application has not,
 * builds the world/group/cross communicators and starts the coordinator thread. Blocks until
 * done. Fails with HILO_INVALID_ARGUMENT when e.g. the world size is not divisible by
 * HILO_GROUP_SIZE, and with HILO_FAILED_PRECONDITION while another context is running in this
 * process. On success *context must eventually go to hilo_context_free. */
hilo_status_t hilo_init(hilo_context_t** context);

/* Stops the coordinator thread; operations still pending fail with HILO_FAILED_PRECONDITION.
 * Collective: blocks until every rank has called it (until then this rank still takes part in
 * the others' collectives), then every rank stops in the same cycle. Afterwards
 * every call on `context` except hilo_context_free returns HILO_FAILED_PRECONDITION. If hilo
 * initialized MPI, MPI is finalized, and hilo cannot be initialized again in this process. */
hilo_status_t hilo_shutdown(hilo_context_t* context);

/* Horovod's join: this rank has no more data. Until every rank has joined it takes part in the
 * others' allreduces with zeros (HILO_AVERAGE still divides by the communicator's size) and in
 * their allgathers with no rows; their other collectives (broadcast, reducescatter, alltoall,
 * averaging rounds) fail with HILO_FAILED_PRECONDITION. Host tensors only. Blocks until
 * every rank has joined; *last_joined_rank (may be NULL) gets the world rank that joined last. */
hilo_status_t hilo_join(hilo_context_t* context, int* last_joined_rank);

/* Horovod's start_timeline / stop_timeline: world rank 0 records a Chrome trace (chrome://tracing,
 * Perfetto) of the coordinator's work in `path` (created or truncated; HILO_INVALID_ARGUMENT if it
 * cannot be written) until hilo_stop_timeline closes it; mark_cycles != 0 adds an instant event
 * at each coordinator cycle's start. Replaces a running timeline (HILO_TIMELINE's too). Other
 * ranks record nothing and return HILO_OK. */
/* Horovod's mpi_threads_supported(): *out = 1 if MPI runs with MPI_THREAD_MULTIPLE (other threads
 * of the program may call MPI too), else 0. */
hilo_status_t hilo_mpi_threads_supported(const hilo_context_t* context, int* out);

hilo_status_t hilo_start_timeline(hilo_context_t* context, const char* path, int mark_cycles);
hilo_status_t hilo_stop_timeline(hilo_context_t* context);

/* Shuts down if needed and frees the context. NULL is allowed. */
void hilo_context_free(hilo_context_t* context);

/* Message describing the last failed call on this thread ("" if none). Valid until the next
 * hilo call on this thread. */
const char* hilo_last_error(void);

/* "HILO_INVALID_ARGUMENT", ... */
const char* hilo_status_name(hilo_status_t status);

/* Where this rank sits. Each writes *out and returns HILO_OK, or fails with
 * HILO_FAILED_PRECONDITION before init / after shutdown and HILO_INVALID_ARGUMENT for NULL. */
hilo_status_t hilo_rank(const hilo_context_t* context, int* out);        /* world rank */
hilo_status_t hilo_size(const hilo_context_t* context, int* out);        /* world size P */
hilo_status_t hilo_group(const hilo_context_t* context, int* out);       /* group index */
hilo_status_t hilo_group_rank(const hilo_context_t* context, int* out);  /* rank within group */
hilo_status_t hilo_group_size(const hilo_context_t* context, int* out);  /* G */
hilo_status_t hilo_num_groups(const hilo_context_t* context, int* out);  /* k = P / G */
hilo_status_t hilo_local_rank(const hilo_context_t* context, int* out);  /* rank on this node */
hilo_status_t hilo_local_size(const hilo_context_t* context, int* out);  /* ranks on this node */

/* Enqueue a collective on the tensor `data` of `ndims` dimensions `shape` (a tensor with a zero
 * dimension is valid and completes without moving data). `name` identifies the tensor across
 * ranks: every rank of the communicator must enqueue the same name with the same dtype and shape
 * (allgather: same shape but the first dimension), otherwise all of them fail with
 * HILO_INVALID_ARGUMENT naming the ranks. The order of enqueues may differ between ranks.
 * `options` may be NULL (defaults). Returns at once with a handle in *handle, to be freed with
 * hilo_handle_free; or an error (nothing queued, *handle untouched). */
hilo_status_t hilo_allreduce_async(hilo_context_t* context, const char* name, void* data,
                                   hilo_dtype_t dtype, int ndims, const int64_t* shape,
                                   const hilo_collective_options_t* options,
                                   hilo_handle_t** handle);

/* The result (every rank's tensor concatenated along dimension 0, in communicator rank order)
 * is read with hilo_handle_output once the handle is done. ndims must be >= 1. */
hilo_status_t hilo_allgather_async(hilo_context_t* context, const char* name, const void* data,
                                   hilo_dtype_t dtype, int ndims, const int64_t* shape,
                                   const hilo_collective_options_t* options,
                                   hilo_handle_t** handle);

/* In place: every rank ends with the data of options->root_rank (a rank of the communicator). */
hilo_status_t hilo_broadcast_async(hilo_context_t* context, const char* name, void* data,
                                   hilo_dtype_t dtype, int ndims, const int64_t* shape,
                                   const hilo_collective_options_t* options,
                                   hilo_handle_t** handle);

/* The sum (HILO_SUM) or average (HILO_AVERAGE; other ops are HILO_INVALID_ARGUMENT) of the tensor
 * over the communicator's ranks, split along dimension 0: with d rows and s ranks, rank r keeps
 * d / s rows, one more if r < d % s, blocks in rank order (Horovod's reducescatter). Read with
 * hilo_handle_output once the handle is done. ndims must be >= 1; host memory only. */
hilo_status_t hilo_reducescatter_async(hilo_context_t* context, const char* name,
                                       const void* data, hilo_dtype_t dtype, int ndims,
                                       const int64_t* shape,
                                       const hilo_collective_options_t* options,
                                       hilo_handle_t** handle);

/* ---- Cross-group model averaging (hierarchical local SGD; docs/averaging.md) ---- */

/* One parameter tensor of a model, updated in place by an averaging round. */
typedef struct hilo_parameter {
  void* data;
  hilo_dtype_t dtype; /* HILO_FLOAT32, HILO_FLOAT64, HILO_FLOAT16 or HILO_BFLOAT16 */
  int64_t count;      /* elements */
} hilo_parameter_t;

typedef enum hilo_averaging_algorithm {
  HILO_AVERAGING_DEFAULT = -1,        /* HILO_AVERAGING_ALGORITHM */
  HILO_AVERAGING_SHARDED = 0,         /* shard allreduce across groups + allgather in the group */
  HILO_AVERAGING_WORLD_ALLREDUCE = 1  /* one allreduce over all ranks / P (the baseline) */
} hilo_averaging_algorithm_t;

typedef struct hilo_averaging_options {
  size_t struct_size;
  hilo_averaging_algorithm_t algorithm; /* default HILO_AVERAGING_DEFAULT */
  int check_group_consistency; /* -1: HILO_CHECK_GROUP_CONSISTENCY (default), 0: off, 1: on */
  hilo_completion_callback_t callback;
  void* callback_arg;
  /* -1 (default): the parameters are in host memory. Otherwise the CUDA device they are all on
   * (builds with CUDA; the round runs on NCCL and the CUDA kernels). */
  int device;
  /* With `device`: a cudaEvent_t recorded on the framework's stream after the parameters were
   * last written, or NULL. hilo's streams wait for it; the host does not. */
  void* ready_event;
} hilo_averaging_options_t;

void hilo_averaging_options_init(hilo_averaging_options_t* options);

/* Enqueue one averaging round of the model given by `parameters` across the groups: afterwards
 * every rank holds the average of the groups' models. Collective over all ranks, which must
 * pass the same name and the same parameter layout (order, dtypes, counts) or all fail with
 * HILO_INVALID_ARGUMENT. With the consistency check on, a group whose members hold different
 * parameters makes the round fail on every rank with HILO_FAILED_PRECONDITION naming them.
 * `options` may be NULL. The handle's discrepancy is read with hilo_handle_discrepancy. */
hilo_status_t hilo_average_across_groups_async(hilo_context_t* context, const char* name,
                                               const hilo_parameter_t* parameters,
                                               int num_parameters,
                                               const hilo_averaging_options_t* options,
                                               hilo_handle_t** handle);

/* The model discrepancy D measured by a completed averaging round.
 * HILO_FAILED_PRECONDITION for other handles or while in flight. */
hilo_status_t hilo_handle_discrepancy(const hilo_handle_t* handle, double* discrepancy);

/* The discrepancy of recent rounds, oldest first: writes the latest min(capacity, available)
 * values to `values` (may be NULL when capacity is 0) and the number available to *available. */
hilo_status_t hilo_discrepancy_history(const hilo_context_t* context, double* values,
                                       int capacity, int* available);

/* Payload bytes and calls this rank has handed to the transport on one communicator. */
hilo_status_t hilo_transport_stats(const hilo_context_t* context,
                                   hilo_communicator_t communicator, int64_t* bytes,
                                   int64_t* calls);

/* What a hierarchical local-SGD training loop does at one step (runtime/averaging/local_sgd_schedule.h). */
typedef struct hilo_local_sgd_step {
  int warmup;                                /* 1 during the fully synchronous warm-up */
  int allreduce_gradients;                   /* 0 only for groups of one after warm-up */
  hilo_communicator_t gradient_communicator; /* HILO_COMM_WORLD in warm-up, else HILO_COMM_GROUP */
  int average_model;                         /* 1: run an averaging round after the update */
} hilo_local_sgd_step_t;

/* The plan for 0-based `step` with averaging period `tau` (>= 1) after `warmup_steps` (>= 0)
 * synchronous steps, for this job's topology. Pure; never blocks. */
hilo_status_t hilo_local_sgd_step(const hilo_context_t* context, int tau, int64_t warmup_steps,
                                  int64_t step, hilo_local_sgd_step_t* out);

/* Response-cache hits and misses on this rank since init (either pointer may be NULL). */
hilo_status_t hilo_cache_stats(const hilo_context_t* context, int64_t* hits, int64_t* misses);

/* ---- Handles ---- */

/* 1 if the operation is done (successfully or not), 0 if not, -1 for a NULL handle. Never
 * blocks. */
int hilo_poll(const hilo_handle_t* handle);

/* Blocks until the operation is done or `timeout_seconds` pass (negative: no limit). Returns the
 * operation's status, or HILO_DEADLINE_EXCEEDED if it is still in flight at the timeout. */
hilo_status_t hilo_wait(const hilo_handle_t* handle, double timeout_seconds);

/* The operation's status, or HILO_IN_PROGRESS. Never blocks. */
hilo_status_t hilo_handle_status(const hilo_handle_t* handle);

/* The operation's error message ("" while in flight or on success). Valid until the handle is
 * freed. */
const char* hilo_handle_message(const hilo_handle_t* handle);

/* Rows splits[j] of the first dimension go to rank j of the communicator (num_splits = its size,
 * summing to shape[0]; splits NULL and num_splits 0: an even split, shape[0] must divide); every
 * rank receives the rows each rank sends it, concatenated in rank order (Horovod's alltoall).
 * Read with hilo_handle_output and hilo_handle_received_splits once the handle is done. ndims
 * must be >= 1; host memory only. */
hilo_status_t hilo_alltoall_async(hilo_context_t* context, const char* name, const void* data,
                                  hilo_dtype_t dtype, int ndims, const int64_t* shape,
                                  const int64_t* splits, int num_splits,
                                  const hilo_collective_options_t* options,
                                  hilo_handle_t** handle);

/* Allgather, reducescatter or alltoall result: bytes, dimensions and shape, owned by the handle
 * (valid until it is freed). HILO_FAILED_PRECONDITION unless the handle is a successful, done
 * allgather, reducescatter or alltoall. */
hilo_status_t hilo_handle_output(const hilo_handle_t* handle, const void** data,
                                 size_t* num_bytes, int* ndims, const int64_t** shape);

/* Alltoall: the rows received from each rank of the communicator, in rank order (*count
 * entries, owned by the handle). HILO_FAILED_PRECONDITION unless the handle is a successful, done
 * alltoall. */
hilo_status_t hilo_handle_received_splits(const hilo_handle_t* handle, const int64_t** splits,
                                          int* count);

/* Releases the caller's handle. Allowed while the operation is in flight (it still completes,
 * and its callback still runs). NULL is allowed. */
void hilo_handle_free(hilo_handle_t* handle);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HILO_CLIENT_HILO_H_ */
