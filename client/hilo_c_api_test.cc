// The C ABI's contract, as every rank of a 2-rank MPI job (client/BUILD runs it under mpirun):
// errors instead of crashes for bad arguments, calls before init and after shutdown; handles,
// timeouts, callbacks and allgather output. Tests run in the order written: the first ones
// before hilo_init, the last ones after hilo_shutdown.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/hilo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;

// The context shared by the tests of this binary (hilo can be initialized once per process).
hilo_context_t* context = nullptr;

int Rank() {
  int rank = -1;
  EXPECT_EQ(hilo_rank(context, &rank), HILO_OK);
  return rank;
}

hilo_status_t WaitFor(hilo_handle_t* handle) { return hilo_wait(handle, 120.0); }

// A done handle's result (allgather, reducescatter, alltoall) as elements of T, and its shape.
template <typename T>
struct Output {
  std::vector<T> values;
  std::vector<int64_t> shape;
};
template <typename T>
Output<T> OutputOf(const hilo_handle_t* handle) {
  const void* data = nullptr;
  size_t bytes = 0;
  int ndims = 0;
  const int64_t* shape = nullptr;
  Output<T> output;
  EXPECT_EQ(hilo_handle_output(handle, &data, &bytes, &ndims, &shape), HILO_OK)
      << hilo_last_error();
  EXPECT_EQ(bytes % sizeof(T), 0u);
  output.values.resize(bytes / sizeof(T));
  if (bytes > 0) std::memcpy(output.values.data(), data, bytes);
  output.shape.assign(shape, shape + ndims);
  return output;
}

TEST(BeforeInit, EveryCallFailsCleanly) {
  int value = 0;
  EXPECT_EQ(hilo_rank(nullptr, &value), HILO_INVALID_ARGUMENT);
  EXPECT_THAT(hilo_last_error(), HasSubstr("hilo_init"));
  float data[4] = {0};
  int64_t shape[1] = {4};
  hilo_handle_t* handle = nullptr;
  EXPECT_EQ(hilo_allreduce_async(nullptr, "x", data, HILO_FLOAT32, 1, shape, nullptr, &handle),
            HILO_FAILED_PRECONDITION);
  EXPECT_THAT(hilo_last_error(), HasSubstr("not initialized"));
  EXPECT_EQ(handle, nullptr);
  EXPECT_EQ(hilo_shutdown(nullptr), HILO_FAILED_PRECONDITION);
  EXPECT_EQ(hilo_poll(nullptr), -1);
  EXPECT_EQ(hilo_wait(nullptr, 1.0), HILO_INVALID_ARGUMENT);
  EXPECT_EQ(hilo_init(nullptr), HILO_INVALID_ARGUMENT);
  hilo_context_free(nullptr);
  hilo_handle_free(nullptr);
}

TEST(Init, StartsAndReportsTheTopology) {
  ASSERT_EQ(hilo_init(&context), HILO_OK) << hilo_last_error();
  int size = 0, group = -1, group_rank = -1, group_size = 0, groups = 0, local_rank = -1,
      local_size = 0;
  EXPECT_EQ(hilo_size(context, &size), HILO_OK);
  EXPECT_EQ(hilo_group(context, &group), HILO_OK);
  EXPECT_EQ(hilo_group_rank(context, &group_rank), HILO_OK);
  EXPECT_EQ(hilo_group_size(context, &group_size), HILO_OK);
  EXPECT_EQ(hilo_num_groups(context, &groups), HILO_OK);
  EXPECT_EQ(hilo_local_rank(context, &local_rank), HILO_OK);
  EXPECT_EQ(hilo_local_size(context, &local_size), HILO_OK);
  EXPECT_EQ(size, 2);
  EXPECT_EQ(group_size * groups, size);
  EXPECT_EQ(group, Rank() / group_size);
  EXPECT_EQ(group_rank, Rank() % group_size);
  EXPECT_EQ(local_rank, Rank());
  EXPECT_EQ(local_size, 2);
  EXPECT_EQ(hilo_rank(context, nullptr), HILO_INVALID_ARGUMENT);
  // hilo initializes MPI asking for MPI_THREAD_MULTIPLE, which Debian's OpenMPI provides.
  int threads = -1;
  EXPECT_EQ(hilo_mpi_threads_supported(context, &threads), HILO_OK);
  EXPECT_EQ(threads, 1);

  hilo_context_t* second = nullptr;
  EXPECT_EQ(hilo_init(&second), HILO_FAILED_PRECONDITION);
  EXPECT_THAT(hilo_last_error(), HasSubstr("already initialized"));
  EXPECT_EQ(second, nullptr);
}

TEST(Enqueue, BadArgumentsReturnErrorsWithMessages) {
  float data[4] = {0};
  int64_t shape[1] = {4};
  int64_t negative[2] = {4, -1};
  hilo_handle_t* handle = nullptr;
  struct Case {
    hilo_status_t expected;
    const char* message;
    hilo_status_t actual;
  };
  hilo_collective_options_t unknown_comm;
  hilo_collective_options_init(&unknown_comm);
  unknown_comm.communicator = static_cast<hilo_communicator_t>(7);
  hilo_collective_options_t unknown_op;
  hilo_collective_options_init(&unknown_op);
  unknown_op.reduce_op = static_cast<hilo_reduce_op_t>(9);
  hilo_collective_options_t bad_root;
  hilo_collective_options_init(&bad_root);
  bad_root.root_rank = 5;
  hilo_collective_options_t old_struct;
  hilo_collective_options_init(&old_struct);
  old_struct.struct_size = 4;
  const std::vector<Case> cases = {
      {HILO_INVALID_ARGUMENT, "data is null",
       hilo_allreduce_async(context, "a", nullptr, HILO_FLOAT32, 1, shape, nullptr, &handle)},
      {HILO_INVALID_ARGUMENT, "negative",
       hilo_allreduce_async(context, "b", data, HILO_FLOAT32, 2, negative, nullptr, &handle)},
      {HILO_INVALID_ARGUMENT, "ndims -1",
       hilo_allreduce_async(context, "c", data, HILO_FLOAT32, -1, shape, nullptr, &handle)},
      {HILO_INVALID_ARGUMENT, "shape is NULL",
       hilo_allreduce_async(context, "d", data, HILO_FLOAT32, 1, nullptr, nullptr, &handle)},
      {HILO_INVALID_ARGUMENT, "unknown dtype 17",
       hilo_allreduce_async(context, "e", data, static_cast<hilo_dtype_t>(17), 1, shape, nullptr,
                            &handle)},
      {HILO_INVALID_ARGUMENT, "unknown communicator 7",
       hilo_allreduce_async(context, "f", data, HILO_FLOAT32, 1, shape, &unknown_comm, &handle)},
      {HILO_INVALID_ARGUMENT, "unknown reduce op 9",
       hilo_allreduce_async(context, "g", data, HILO_FLOAT32, 1, shape, &unknown_op, &handle)},
      {HILO_INVALID_ARGUMENT, "root 5",
       hilo_broadcast_async(context, "h", data, HILO_FLOAT32, 1, shape, &bad_root, &handle)},
      {HILO_INVALID_ARGUMENT, "struct_size",
       hilo_allreduce_async(context, "i", data, HILO_FLOAT32, 1, shape, &old_struct, &handle)},
      {HILO_INVALID_ARGUMENT, "name must not be NULL",
       hilo_allreduce_async(context, nullptr, data, HILO_FLOAT32, 1, shape, nullptr, &handle)},
      {HILO_INVALID_ARGUMENT, "name must not be empty",
       hilo_allreduce_async(context, "", data, HILO_FLOAT32, 1, shape, nullptr, &handle)},
      {HILO_INVALID_ARGUMENT, "out-pointer",
       hilo_allreduce_async(context, "j", data, HILO_FLOAT32, 1, shape, nullptr, nullptr)},
      {HILO_INVALID_ARGUMENT, "at least one",
       hilo_allgather_async(context, "k", data, HILO_FLOAT32, 0, shape, nullptr, &handle)},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(cases[i].actual, cases[i].expected) << "case " << i << ": " << cases[i].message;
  }
  EXPECT_EQ(handle, nullptr);
  // The last error message belongs to the last failed call.
  EXPECT_THAT(hilo_last_error(), HasSubstr("at least one"));
}

TEST(Enqueue, DeviceTensorsAreCheckedAndOlderOptionStructsDefaultToHostMemory) {
  float data[4] = {1, 1, 1, 1};
  int64_t shape[1] = {4};
  hilo_handle_t* handle = nullptr;
  hilo_collective_options_t on_device;
  hilo_collective_options_init(&on_device);
  EXPECT_EQ(on_device.device, -1);
  on_device.device = 0;
  // Allgather never takes device memory; in a CPU-only build nothing does.
  EXPECT_NE(hilo_allgather_async(context, "dev.gather", data, HILO_FLOAT32, 1, shape, &on_device,
                                 &handle),
            HILO_OK);
  EXPECT_THAT(hilo_last_error(), ::testing::AnyOf(HasSubstr("allgather of CUDA tensors"),
                                                  HasSubstr("built without CUDA")));
  on_device.device = -3;
  EXPECT_EQ(hilo_allreduce_async(context, "dev.bad", data, HILO_FLOAT32, 1, shape, &on_device,
                                 &handle),
            HILO_INVALID_ARGUMENT);
  EXPECT_EQ(handle, nullptr);
  // A caller built before `device` existed: its struct ends at callback_arg, and whatever
  // follows in memory must not be read as a device.
  struct {
    hilo_collective_options_t options;
    char garbage[64];
  } old_layout;
  std::memset(&old_layout, 0x5a, sizeof(old_layout));
  hilo_collective_options_init(&old_layout.options);
  old_layout.options.struct_size = offsetof(hilo_collective_options_t, device);
  std::memset(&old_layout.options.device, 0x5a, sizeof(int) + sizeof(void*));
  ASSERT_EQ(hilo_allreduce_async(context, "dev.old", data, HILO_FLOAT32, 1, shape,
                                 &old_layout.options, &handle),
            HILO_OK)
      << hilo_last_error();
  EXPECT_EQ(hilo_wait(handle, 60.0), HILO_OK) << hilo_handle_message(handle);
  hilo_handle_free(handle);
}

TEST(Enqueue, AveragingOptionsCarryTheDeviceAndOlderStructsMeanHostMemory) {
  float model[3] = {1, 2, 3};
  hilo_parameter_t parameter = {model, HILO_FLOAT32, 3};
  hilo_handle_t* handle = nullptr;
  hilo_averaging_options_t options;
  hilo_averaging_options_init(&options);
  EXPECT_EQ(options.device, -1);
  EXPECT_EQ(options.ready_event, nullptr);
  options.device = -3;
  EXPECT_EQ(hilo_average_across_groups_async(context, "avg.bad", &parameter, 1, &options, &handle),
            HILO_INVALID_ARGUMENT);
  EXPECT_THAT(hilo_last_error(), HasSubstr("not a CUDA device"));
  EXPECT_EQ(handle, nullptr);
  // Built before `device` existed: the struct ends at callback_arg; what follows is not read.
  struct {
    hilo_averaging_options_t options;
    char garbage[64];
  } old_layout;
  std::memset(&old_layout, 0x5a, sizeof(old_layout));
  hilo_averaging_options_init(&old_layout.options);
  old_layout.options.struct_size = offsetof(hilo_averaging_options_t, device);
  std::memset(&old_layout.options.device, 0x5a, sizeof(int) + sizeof(void*));
  ASSERT_EQ(hilo_average_across_groups_async(context, "avg.old", &parameter, 1,
                                             &old_layout.options, &handle),
            HILO_OK)
      << hilo_last_error();
  EXPECT_EQ(hilo_wait(handle, 60.0), HILO_OK) << hilo_handle_message(handle);
  EXPECT_EQ(model[2], 3.0f);  // every group holds the same model here
  hilo_handle_free(handle);
}

TEST(Enqueue, NameAlreadyInFlightIsRejectedAndTheFirstStillCompletes) {
  // Rank 1 submits 300 ms late, so on rank 0 "dup" is certainly still in flight when it tries
  // to enqueue the name a second time.
  float first[2] = {1, 1};
  float second[2] = {1, 1};
  int64_t shape[1] = {2};
  if (Rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  hilo_handle_t* handle = nullptr;
  ASSERT_EQ(hilo_allreduce_async(context, "dup", first, HILO_FLOAT32, 1, shape, nullptr, &handle),
            HILO_OK);
  if (Rank() == 0) {
    hilo_handle_t* duplicate = nullptr;
    EXPECT_EQ(hilo_allreduce_async(context, "dup", second, HILO_FLOAT32, 1, shape, nullptr,
                                   &duplicate),
              HILO_ALREADY_EXISTS);
    EXPECT_THAT(hilo_last_error(), HasSubstr("'dup' is already in flight"));
    EXPECT_EQ(duplicate, nullptr);
  }
  EXPECT_EQ(WaitFor(handle), HILO_OK) << hilo_handle_message(handle);
  EXPECT_EQ(first[0], 2.0f);
  hilo_handle_free(handle);
}

TEST(Handles, PollWaitTimeoutAndStatusWhileInFlight) {
  // Rank 1 enqueues 500 ms after rank 0, so rank 0's handle is certainly pending for a while.
  int32_t data[3] = {1, 2, 3};
  int64_t shape[1] = {3};
  if (Rank() == 1) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  hilo_handle_t* handle = nullptr;
  ASSERT_EQ(hilo_allreduce_async(context, "late", data, HILO_INT32, 1, shape, nullptr, &handle),
            HILO_OK);
  if (Rank() == 0) {
    EXPECT_EQ(hilo_poll(handle), 0);
    EXPECT_EQ(hilo_handle_status(handle), HILO_IN_PROGRESS);
    EXPECT_STREQ(hilo_handle_message(handle), "");
    EXPECT_EQ(hilo_wait(handle, 0.05), HILO_DEADLINE_EXCEEDED);
    EXPECT_THAT(hilo_last_error(), HasSubstr("still in flight"));
  }
  EXPECT_EQ(WaitFor(handle), HILO_OK);
  EXPECT_EQ(hilo_poll(handle), 1);
  EXPECT_EQ(hilo_handle_status(handle), HILO_OK);
  EXPECT_EQ(data[2], 6);
  // An allreduce handle has no output.
  const void* out = nullptr;
  EXPECT_EQ(hilo_handle_output(handle, &out, nullptr, nullptr, nullptr), HILO_FAILED_PRECONDITION);
  hilo_handle_free(handle);
}

void CountCompletion(hilo_status_t status, const char* message, void* arg) {
  if (status == HILO_OK && message != nullptr && message[0] == '\0') {
    static_cast<std::atomic<int>*>(arg)->fetch_add(1);
  }
}

TEST(Handles, CallbackRunsBeforeWaitReturnsAndAfterTheHandleIsFreed) {
  std::atomic<int> completions{0};
  hilo_collective_options_t options;
  hilo_collective_options_init(&options);
  options.communicator = HILO_COMM_GROUP;
  options.reduce_op = HILO_AVERAGE;
  options.callback = &CountCompletion;
  options.callback_arg = &completions;
  double a[2] = {1.0, 3.0}, b[2] = {2.0, 4.0};
  int64_t shape[1] = {2};
  hilo_handle_t* waited = nullptr;
  hilo_handle_t* freed_early = nullptr;
  ASSERT_EQ(hilo_allreduce_async(context, "cb.a", a, HILO_FLOAT64, 1, shape, &options, &waited),
            HILO_OK);
  ASSERT_EQ(hilo_allreduce_async(context, "cb.b", b, HILO_FLOAT64, 1, shape, &options,
                                 &freed_early),
            HILO_OK);
  hilo_handle_free(freed_early);  // still completes; its callback still runs
  ASSERT_EQ(WaitFor(waited), HILO_OK);
  EXPECT_GE(completions.load(), 1);
  // cb.b is negotiated in the same or a later cycle; a round trip on the group flushes it.
  hilo_handle_t* flush = nullptr;
  ASSERT_EQ(hilo_allreduce_async(context, "cb.flush", nullptr, HILO_FLOAT64, 1,
                                 std::vector<int64_t>{0}.data(), &options, &flush),
            HILO_OK);
  ASSERT_EQ(WaitFor(flush), HILO_OK);
  EXPECT_EQ(completions.load(), 3);
  hilo_handle_free(waited);
  hilo_handle_free(flush);
}

TEST(Handles, AllgatherOutputIsOwnedByTheHandle) {
  const int rank = Rank();
  std::vector<int64_t> mine(rank + 1, 100 + rank);  // rank r sends r + 1 values
  int64_t shape[1] = {rank + 1};
  hilo_handle_t* handle = nullptr;
  ASSERT_EQ(hilo_allgather_async(context, "gather", mine.data(), HILO_INT64, 1, shape, nullptr,
                                 &handle),
            HILO_OK);
  ASSERT_EQ(WaitFor(handle), HILO_OK) << hilo_handle_message(handle);
  const Output<int64_t> gathered = OutputOf<int64_t>(handle);
  EXPECT_EQ(gathered.shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(gathered.values, (std::vector<int64_t>{100, 101, 101}));
  hilo_handle_free(handle);
}

TEST(Handles, ReducescatterOutputIsThisRanksBlock) {
  // 3 rows of 2 over 2 ranks: rank 0 keeps rows 0-1, rank 1 row 2 of the sum.
  const int rank = Rank();
  std::vector<int32_t> mine = {1, 2, 3, 4, 5, 6};
  for (int32_t& value : mine) value *= rank + 1;  // summed over the 2 ranks: 3x
  int64_t shape[2] = {3, 2};
  hilo_collective_options_t options;
  hilo_collective_options_init(&options);
  options.reduce_op = HILO_SUM;
  hilo_handle_t* handle = nullptr;
  ASSERT_EQ(hilo_reducescatter_async(context, "scatter", mine.data(), HILO_INT32, 2, shape,
                                     &options, &handle),
            HILO_OK)
      << hilo_last_error();
  ASSERT_EQ(WaitFor(handle), HILO_OK) << hilo_handle_message(handle);
  const Output<int32_t> block = OutputOf<int32_t>(handle);
  EXPECT_EQ(block.shape, (std::vector<int64_t>{rank == 0 ? 2 : 1, 2}));
  const std::vector<int32_t> expected =
      rank == 0 ? std::vector<int32_t>{3, 6, 9, 12} : std::vector<int32_t>{15, 18};
  EXPECT_EQ(block.values, expected);
  hilo_handle_free(handle);

  options.reduce_op = HILO_MAX;
  EXPECT_EQ(hilo_reducescatter_async(context, "scatter.max", mine.data(), HILO_INT32, 2, shape,
                                     &options, &handle),
            HILO_INVALID_ARGUMENT);
  EXPECT_THAT(hilo_last_error(), HasSubstr("reducescatter sums or averages"));
}

TEST(Handles, AlltoallOutputAndReceivedSplits) {
  // Rank 0 sends 1 row to itself and 2 to rank 1; rank 1 sends 3 rows to rank 0 and none to
  // itself. Values: 10 * sender + destination.
  const int rank = Rank();
  const std::vector<int64_t> splits = rank == 0 ? std::vector<int64_t>{1, 2}
                                                : std::vector<int64_t>{3, 0};
  std::vector<double> mine;
  for (int to = 0; to < 2; ++to) mine.insert(mine.end(), splits[to], 10.0 * rank + to);
  int64_t shape[1] = {static_cast<int64_t>(mine.size())};
  hilo_handle_t* handle = nullptr;
  ASSERT_EQ(hilo_alltoall_async(context, "a2a", mine.data(), HILO_FLOAT64, 1, shape,
                                splits.data(), 2, nullptr, &handle),
            HILO_OK)
      << hilo_last_error();
  ASSERT_EQ(WaitFor(handle), HILO_OK) << hilo_handle_message(handle);
  const std::vector<double> expected =
      rank == 0 ? std::vector<double>{0, 10, 10, 10} : std::vector<double>{1, 1};
  EXPECT_EQ(OutputOf<double>(handle).values, expected);
  const int64_t* received = nullptr;
  int count = 0;
  ASSERT_EQ(hilo_handle_received_splits(handle, &received, &count), HILO_OK);
  ASSERT_EQ(count, 2);
  EXPECT_EQ(std::vector<int64_t>(received, received + 2),
            rank == 0 ? (std::vector<int64_t>{1, 3}) : (std::vector<int64_t>{2, 0}));
  hilo_handle_free(handle);

  EXPECT_EQ(hilo_alltoall_async(context, "a2a.bad", mine.data(), HILO_FLOAT64, 1, shape,
                                splits.data(), 3, nullptr, &handle),
            HILO_INVALID_ARGUMENT);
  EXPECT_THAT(hilo_last_error(), HasSubstr("3 splits for"));
}

TEST(Timeline, StartedAndStoppedWhileRunningOnRankZeroOnly) {
  const std::string path =
      ::testing::TempDir() + "/c_api_timeline." + std::to_string(Rank()) + ".json";
  ASSERT_EQ(hilo_start_timeline(context, path.c_str(), /*mark_cycles=*/1), HILO_OK)
      << hilo_last_error();
  float data[3] = {1, 2, 3};
  int64_t shape[1] = {3};
  hilo_handle_t* handle = nullptr;
  ASSERT_EQ(hilo_allreduce_async(context, "timed.tensor", data, HILO_FLOAT32, 1, shape, nullptr,
                                 &handle),
            HILO_OK);
  ASSERT_EQ(WaitFor(handle), HILO_OK);
  hilo_handle_free(handle);
  ASSERT_EQ(hilo_stop_timeline(context), HILO_OK);
  std::ifstream file(path);
  if (Rank() != 0) {
    EXPECT_FALSE(file.good()) << "only rank 0 records";
  } else {
    std::stringstream text;
    text << file.rdbuf();
    const std::string json = text.str();
    ASSERT_FALSE(json.empty());
    EXPECT_EQ(json.front(), '[');
    EXPECT_EQ(json.substr(json.size() - 3), "\n]\n");  // closed by the stop
    EXPECT_THAT(json, HasSubstr("\"timed.tensor\""));
    EXPECT_THAT(json, HasSubstr("\"NEGOTIATE\""));
    EXPECT_THAT(json, HasSubstr("\"CYCLE_START\""));
  }
  const int status = hilo_start_timeline(context, "/nonexistent-dir/timeline.json", 0);
  if (Rank() == 0) {
    EXPECT_EQ(status, HILO_INVALID_ARGUMENT);
    EXPECT_THAT(hilo_last_error(), HasSubstr("cannot write the timeline"));
  } else {
    EXPECT_EQ(status, HILO_OK);
  }
}

TEST(Handles, MismatchMessageReachesTheCaller) {
  float data[4] = {0};
  int64_t shape[1] = {Rank() == 0 ? 4 : 2};
  hilo_handle_t* handle = nullptr;
  ASSERT_EQ(hilo_allreduce_async(context, "c.mismatch", data, HILO_FLOAT32, 1, shape, nullptr,
                                 &handle),
            HILO_OK);
  EXPECT_EQ(WaitFor(handle), HILO_INVALID_ARGUMENT);
  EXPECT_EQ(hilo_handle_status(handle), HILO_INVALID_ARGUMENT);
  EXPECT_THAT(hilo_handle_message(handle), HasSubstr("[4] on rank 0; [2] on rank 1"));
  EXPECT_THAT(hilo_last_error(), HasSubstr("c.mismatch"));
  hilo_handle_free(handle);
}

TEST(Enqueue, MinMaxAndProductOps) {
  int64_t shape[1] = {2};
  for (auto [op, expected] : {std::pair{HILO_MIN, std::vector<int64_t>{1, 4}},
                              std::pair{HILO_MAX, std::vector<int64_t>{2, 5}},
                              std::pair{HILO_PRODUCT, std::vector<int64_t>{2, 20}}}) {
    hilo_collective_options_t options;
    hilo_collective_options_init(&options);
    options.reduce_op = op;
    int64_t data[2] = {Rank() + 1, 5 - Rank()};  // rank 0: {1, 5}; rank 1: {2, 4}
    hilo_handle_t* handle = nullptr;
    const std::string name = "c.op." + std::to_string(op);
    ASSERT_EQ(hilo_allreduce_async(context, name.c_str(), data, HILO_INT64, 1, shape, &options,
                                   &handle),
              HILO_OK)
        << hilo_last_error();
    EXPECT_EQ(WaitFor(handle), HILO_OK) << hilo_handle_message(handle);
    EXPECT_EQ(std::vector<int64_t>(data, data + 2), expected) << op;
    hilo_handle_free(handle);
  }
}

TEST(Join, TheOtherRankFinishesItsAllreduceWithZerosFromTheJoinedOne) {
  // Rank 0 joins at once; rank 1 reduces alone (rank 0 contributes zeros), then joins last.
  int last = -1;
  if (Rank() == 0) {
    ASSERT_EQ(hilo_join(context, &last), HILO_OK) << hilo_last_error();
  } else {
    double value[2] = {3.0, -1.0};
    int64_t shape[1] = {2};
    hilo_handle_t* handle = nullptr;
    ASSERT_EQ(hilo_allreduce_async(context, "c.join", value, HILO_FLOAT64, 1, shape, nullptr,
                                   &handle),
              HILO_OK);
    ASSERT_EQ(WaitFor(handle), HILO_OK) << hilo_handle_message(handle);
    EXPECT_EQ(value[0], 3.0);
    EXPECT_EQ(value[1], -1.0);
    hilo_handle_free(handle);
    ASSERT_EQ(hilo_join(context, nullptr), HILO_OK) << hilo_last_error();  // NULL is allowed
    last = 1;
  }
  EXPECT_EQ(last, 1);
  EXPECT_EQ(hilo_join(nullptr, &last), HILO_FAILED_PRECONDITION);
}

TEST(Shutdown, LaterCallsFailAndPendingOperationsAreReleased) {
  // A tensor only this rank submits can never run: the other rank's shutdown (it has finished
  // without it) or this one's must fail it, not hang.
  float lonely[1] = {1};
  int64_t shape[1] = {1};
  hilo_handle_t* pending = nullptr;
  const std::string name = "only-on-rank-" + std::to_string(Rank());
  ASSERT_EQ(hilo_allreduce_async(context, name.c_str(), lonely, HILO_FLOAT32, 1, shape, nullptr,
                                 &pending),
            HILO_OK);
  ASSERT_EQ(hilo_shutdown(context), HILO_OK) << hilo_last_error();
  EXPECT_EQ(hilo_poll(pending), 1);
  EXPECT_EQ(hilo_handle_status(pending), HILO_FAILED_PRECONDITION);
  EXPECT_THAT(hilo_handle_message(pending), HasSubstr("shut down"));
  hilo_handle_free(pending);

  int value = 0;
  EXPECT_EQ(hilo_rank(context, &value), HILO_FAILED_PRECONDITION);
  EXPECT_THAT(hilo_last_error(), HasSubstr("shut down"));
  hilo_handle_t* handle = nullptr;
  EXPECT_EQ(hilo_allreduce_async(context, "after", lonely, HILO_FLOAT32, 1, shape, nullptr,
                                 &handle),
            HILO_FAILED_PRECONDITION);
  EXPECT_EQ(hilo_shutdown(context), HILO_OK);  // idempotent
  hilo_context_free(context);
  context = nullptr;
}

TEST(Shutdown, InitAgainAfterMpiWasFinalizedIsAClearError) {
  hilo_context_t* again = nullptr;
  EXPECT_EQ(hilo_init(&again), HILO_FAILED_PRECONDITION);
  EXPECT_THAT(hilo_last_error(), HasSubstr("finalized"));
  EXPECT_EQ(again, nullptr);
}

}  // namespace
