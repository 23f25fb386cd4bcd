// Init errors that must reach every rank of the job, each with a message saying what to change,
// and must not leave any rank hanging (see BUILD for the jobs):
//   indivisible   3 ranks with HILO_GROUP_SIZE=2: 3 ranks cannot form groups of 2.
//   disagreeing   4 ranks where rank 0 says HILO_GROUP_SIZE=2 and the others 4.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "client/hilo.h"

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  std::string expected;
  if (mode == "indivisible") {
    expected = "does not divide the world size 3";
  } else if (mode == "disagreeing") {
    // mpirun tells each process its rank; hilo reads the environment only at init.
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    setenv("HILO_GROUP_SIZE", rank != nullptr && std::string(rank) == "0" ? "2" : "4", 1);
    expected = "HILO_GROUP_SIZE differs across ranks";
  } else {
    std::fprintf(stderr, "usage: %s indivisible|disagreeing\n", argv[0]);
    return 2;
  }
  hilo_context_t* context = nullptr;
  const hilo_status_t status = hilo_init(&context);
  const std::string message = hilo_last_error();
  if (status != HILO_INVALID_ARGUMENT || context != nullptr ||
      message.find(expected) == std::string::npos ||
      message.find("HILO_GROUP_SIZE") == std::string::npos) {
    std::fprintf(stderr, "expected INVALID_ARGUMENT saying '%s', got %s: %s\n", expected.c_str(),
                 hilo_status_name(status), message.c_str());
    return 1;
  }
  std::printf("init failed as expected: %s\n", message.c_str());
  return 0;
}
