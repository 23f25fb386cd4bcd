/* Compiled as C (not C++): proves hilo.h is a C header and the C ABI links from C.
 * Run under mpirun: each rank allreduces its rank over the world and checks the sum. */
#include <stdio.h>

#include "client/hilo.h"

int main(void) {
  hilo_context_t* context = NULL;
  if (hilo_init(&context) != HILO_OK) {
    fprintf(stderr, "hilo_init: %s\n", hilo_last_error());
    return 1;
  }
  int rank = 0, size = 0;
  hilo_rank(context, &rank);
  hilo_size(context, &size);
  double value[1] = {(double)rank};
  int64_t shape[1] = {1};
  hilo_handle_t* handle = NULL;
  if (hilo_allreduce_async(context, "smoke", value, HILO_FLOAT64, 1, shape, NULL, &handle) !=
      HILO_OK) {
    fprintf(stderr, "enqueue: %s\n", hilo_last_error());
    return 1;
  }
  hilo_status_t status = hilo_wait(handle, 60.0);
  hilo_handle_free(handle);
  int ok = status == HILO_OK && value[0] == size * (size - 1) / 2.0;
  if (!ok) fprintf(stderr, "rank %d: %s, got %g\n", rank, hilo_status_name(status), value[0]);
  hilo_shutdown(context);
  hilo_context_free(context);
  return ok ? 0 : 1;
}
