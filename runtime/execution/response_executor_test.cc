#include "runtime/execution/response_executor.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/local_job.h"
#include "runtime/observability/recording_observer.h"
#include "runtime/negotiation/wire_format.h"

namespace hilo {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Four ranks as threads in two groups of two, each with what the executor runs on.
class ExecutorJob {
 public:
  explicit ExecutorJob(bool listening = true)
      : job_(4, 2), logger_(LogLevel::kError), observer_(listening), ranks_(4) {
    job_.Run([&](int rank) { ranks_[rank].Build(job_, rank, observer_, logger_); });
  }
  ~ExecutorJob() {
    for (LocalExecution& rank : ranks_) rank.Close();
  }

  // Enqueues on `rank` what the response will name; returns its operation.
  std::shared_ptr<Operation> Enqueue(int rank, TensorRequest request) {
    return ranks_[rank].Enqueue(std::move(request));
  }

  // Every rank executes `responses` on `kind`; `joined[r]`: rank r stands in.
  void Execute(CommunicatorKind kind, const proto::ResponseList& responses,
               std::vector<bool> joined = std::vector<bool>(4, false)) {
    job_.Run([&](int rank) { ranks_[rank].executor->Execute(kind, responses, joined[rank]); });
  }

  const Topology& topology(int rank) { return job_.topology(rank); }
  RecordingObserver& observer() { return observer_; }

 private:
  LocalJob job_;
  Logger logger_;
  RecordingObserver observer_;
  std::vector<LocalExecution> ranks_;
};

proto::ResponseList One(proto::Response response) {
  proto::ResponseList responses;
  *responses.add_responses() = std::move(response);
  return responses;
}

proto::Response Allreduce(std::vector<std::string> names, ReduceOp op, std::vector<int64_t> sizes) {
  proto::Response response;
  response.set_collective(proto::ALLREDUCE);
  for (const std::string& name : names) response.add_tensor_names(name);
  for (int64_t size : sizes) response.add_tensor_sizes(size);
  response.set_dtype(ToProto(DataType::kFloat32));
  response.set_reduce_op(ToProto(op));
  return response;
}

TEST(ResponseExecutorTest, AnAllreduceSumsOverItsCommunicatorAndIsObserved) {
  ExecutorJob job;
  std::vector<std::vector<float>> data(4);
  std::vector<std::shared_ptr<Operation>> operations;
  for (int rank = 0; rank < 4; ++rank) {
    data[rank].assign(10, static_cast<float>(rank + 1));
    operations.push_back(job.Enqueue(rank, FloatTensor("t", CommunicatorKind::kGroup, data[rank])));
  }
  job.Execute(CommunicatorKind::kGroup, One(Allreduce({"t"}, ReduceOp::kSum, {10})));
  for (int rank = 0; rank < 4; ++rank) {
    ASSERT_TRUE(operations[rank]->done());
    ASSERT_TRUE(operations[rank]->status().ok()) << operations[rank]->status();
    // Groups {0, 1} and {2, 3}.
    EXPECT_EQ(data[rank], std::vector<float>(10, rank < 2 ? 3.0f : 7.0f));
  }
  EXPECT_THAT(job.observer().events(), Contains("negotiated t"));
  EXPECT_THAT(job.observer().events(), Contains("transport t on group"));
}

TEST(ResponseExecutorTest, SeveralAllreducesAreFusedAndAveraged) {
  ExecutorJob job;
  std::vector<std::vector<std::vector<float>>> data(4, std::vector<std::vector<float>>(3));
  std::vector<std::shared_ptr<Operation>> operations;
  for (int rank = 0; rank < 4; ++rank) {
    for (int t = 0; t < 3; ++t) {
      data[rank][t].assign(5 + t, static_cast<float>(4 * (rank + 1) * (t + 1)));
      operations.push_back(job.Enqueue(
          rank, FloatTensor("t" + std::to_string(t), CommunicatorKind::kWorld, data[rank][t],
                       ReduceOp::kAverage)));
    }
  }
  job.Execute(CommunicatorKind::kWorld,
              One(Allreduce({"t0", "t1", "t2"}, ReduceOp::kAverage, {5, 6, 7})));
  for (const auto& operation : operations) ASSERT_TRUE(operation->status().ok());
  for (int rank = 0; rank < 4; ++rank) {
    for (int t = 0; t < 3; ++t) {
      EXPECT_EQ(data[rank][t], std::vector<float>(5 + t, 10.0f * (t + 1))) << rank << " " << t;
    }
  }
  EXPECT_THAT(job.observer().events(), Contains("fused t1 of 3 on world"));
}

TEST(ResponseExecutorTest, AJoinedRankStandsInWithZerosForAllreducesFusedOrNot) {
  ExecutorJob job;
  std::vector<std::vector<float>> a(4), b(4);
  std::vector<std::shared_ptr<Operation>> operations;
  for (int rank = 0; rank < 3; ++rank) {  // rank 3 has joined: it never enqueues
    a[rank].assign(4, static_cast<float>(rank + 1));
    b[rank].assign(2, 1.0f);
    operations.push_back(job.Enqueue(rank, FloatTensor("a", CommunicatorKind::kWorld, a[rank])));
    operations.push_back(job.Enqueue(rank, FloatTensor("b", CommunicatorKind::kWorld, b[rank])));
  }
  job.Execute(CommunicatorKind::kWorld, One(Allreduce({"a", "b"}, ReduceOp::kSum, {4, 2})),
              {false, false, false, true});
  for (const auto& operation : operations) ASSERT_TRUE(operation->status().ok());
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(a[rank], std::vector<float>(4, 6.0f));
    EXPECT_EQ(b[rank], std::vector<float>(2, 3.0f));
  }
}

TEST(ResponseExecutorTest, ABroadcastTakesTheRootsData) {
  ExecutorJob job;
  std::vector<std::vector<float>> data(4);
  std::vector<std::shared_ptr<Operation>> operations;
  for (int rank = 0; rank < 4; ++rank) {
    data[rank].assign(3, static_cast<float>(rank));
    TensorRequest request = FloatTensor("w", CommunicatorKind::kWorld, data[rank]);
    request.collective = CollectiveType::kBroadcast;
    request.root_rank = 2;
    operations.push_back(job.Enqueue(rank, std::move(request)));
  }
  proto::Response response;
  response.set_collective(proto::BROADCAST);
  response.add_tensor_names("w");
  response.set_dtype(ToProto(DataType::kFloat32));
  response.set_root_rank(2);
  job.Execute(CommunicatorKind::kWorld, One(response));
  for (int rank = 0; rank < 4; ++rank) {
    ASSERT_TRUE(operations[rank]->status().ok()) << operations[rank]->status();
    EXPECT_EQ(data[rank], std::vector<float>(3, 2.0f));
  }
}

TEST(ResponseExecutorTest, AnAllgatherOwnsItsResultAndAJoinedRankAddsNoRows) {
  ExecutorJob job;
  std::vector<std::vector<float>> data(4);
  std::vector<std::shared_ptr<Operation>> operations(4);
  for (int rank = 0; rank < 3; ++rank) {
    data[rank].assign(2 * (rank + 1), static_cast<float>(rank));  // rank + 1 rows of 2
    TensorRequest request = FloatTensor("g", CommunicatorKind::kWorld, data[rank]);
    request.collective = CollectiveType::kAllgather;
    request.shape = {rank + 1, 2};
    operations[rank] = job.Enqueue(rank, std::move(request));
  }
  proto::Response response;
  response.set_collective(proto::ALLGATHER);
  response.add_tensor_names("g");
  response.set_dtype(ToProto(DataType::kFloat32));
  response.set_row_elements(2);
  for (int64_t rows : {1, 2, 3, 0}) response.add_first_dims(rows);
  job.Execute(CommunicatorKind::kWorld, One(response), {false, false, false, true});
  for (int rank = 0; rank < 3; ++rank) {
    ASSERT_TRUE(operations[rank]->status().ok()) << operations[rank]->status();
    EXPECT_THAT(operations[rank]->output_shape(), ElementsAre(6, 2));
    std::vector<float> gathered(12);
    ASSERT_EQ(operations[rank]->output().size(), gathered.size() * sizeof(float));
    std::memcpy(gathered.data(), operations[rank]->output().data(), operations[rank]->output().size());
    EXPECT_EQ(gathered, (std::vector<float>{0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}));
  }
}

TEST(ResponseExecutorTest, ErrorResponsesFailTheTensorsThisRankHas) {
  ExecutorJob job;
  std::vector<std::vector<float>> data(4, std::vector<float>(1));
  std::vector<std::shared_ptr<Operation>> mismatched, unfinished;
  for (int rank = 0; rank < 4; ++rank) {
    mismatched.push_back(job.Enqueue(rank, FloatTensor("m", CommunicatorKind::kGroup, data[rank])));
    // Rank 1 finished without "u".
    unfinished.push_back(rank == 1 ? nullptr
                                   : job.Enqueue(rank, FloatTensor("u", CommunicatorKind::kGroup, data[rank])));
  }
  proto::ResponseList responses;
  proto::Response& mismatch = *responses.add_responses();
  mismatch.set_error(true);
  mismatch.add_tensor_names("m");
  mismatch.set_error_message("shapes differ");
  proto::Response& finished = *responses.add_responses();
  finished.set_error(true);
  finished.add_tensor_names("u");
  finished.set_peer_finished(true);
  finished.set_error_message("rank 1 finished");
  job.Execute(CommunicatorKind::kGroup, responses);
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_TRUE(absl::IsInvalidArgument(mismatched[rank]->status()));
    EXPECT_THAT(mismatched[rank]->status().message(), HasSubstr("shapes differ"));
    if (rank != 1) {
      EXPECT_TRUE(absl::IsFailedPrecondition(unfinished[rank]->status()));
    }
  }
  // Errors move no data: no transport phase.
  for (const std::string& event : job.observer().events()) {
    EXPECT_THAT(event, ::testing::Not(HasSubstr("transport")));
  }
}

TEST(ResponseExecutorTest, AnAveragingResponseRunsARound) {
  ExecutorJob job;
  std::vector<std::vector<float>> models(4);
  std::vector<std::shared_ptr<Operation>> operations;
  for (int rank = 0; rank < 4; ++rank) {
    models[rank].assign(100, 2.0f * static_cast<float>(job.topology(rank).group + 1));
    TensorRequest request;
    request.name = "model";
    request.collective = CollectiveType::kAverageAcrossGroups;
    request.parameters = {ParameterTensor{models[rank].data(), DataType::kFloat32, 100}};
    operations.push_back(job.Enqueue(rank, std::move(request)));
  }
  proto::Response response;
  response.set_collective(proto::AVERAGE_ACROSS_GROUPS);
  response.add_tensor_names("model");
  response.set_algorithm(ToProto(AveragingAlgorithm::kSharded));
  job.Execute(CommunicatorKind::kWorld, One(response));
  for (int rank = 0; rank < 4; ++rank) {
    ASSERT_TRUE(operations[rank]->WaitFor(absl::Seconds(60)));
    ASSERT_TRUE(operations[rank]->status().ok()) << operations[rank]->status();
    EXPECT_TRUE(operations[rank]->discrepancy().has_value());
    EXPECT_EQ(models[rank], std::vector<float>(100, 3.0f));
  }
}

TEST(ResponseExecutorTest, NothingIsReportedToAnObserverThatDoesNotListen) {
  ExecutorJob job(/*listening=*/false);
  std::vector<std::vector<float>> data(4, std::vector<float>(2, 1.0f));
  for (int rank = 0; rank < 4; ++rank) job.Enqueue(rank, FloatTensor("t", CommunicatorKind::kCross, data[rank]));
  job.Execute(CommunicatorKind::kCross, One(Allreduce({"t"}, ReduceOp::kSum, {2})));
  EXPECT_EQ(data[0], std::vector<float>(2, 2.0f));
  EXPECT_THAT(job.observer().events(), IsEmpty());
}

}  // namespace
}  // namespace hilo
