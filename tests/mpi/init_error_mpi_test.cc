// Runs as a 3-rank job with HILO_GROUP_SIZE=2 (see BUILD): 3 ranks cannot form groups of 2, so
// hilo_init must fail on every rank with INVALID_ARGUMENT saying why — and no rank may hang.
#include <cstdio>
#include <string>

#include "client/hilo.h"

int main() {
  hilo_context_t* context = nullptr;
  const hilo_status_t status = hilo_init(&context);
  const std::string message = hilo_last_error();
  if (status != HILO_INVALID_ARGUMENT || context != nullptr ||
      message.find("does not divide the world size 3") == std::string::npos ||
      message.find("HILO_GROUP_SIZE") == std::string::npos) {
    std::fprintf(stderr, "expected INVALID_ARGUMENT about HILO_GROUP_SIZE, got %s: %s\n",
                 hilo_status_name(status), message.c_str());
    return 1;
  }
  std::printf("init failed as expected: %s\n", message.c_str());
  return 0;
}
