// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr.
//
// Debian's Abseil (20220623) ships no status_macros.h, so hilo defines the pair once, here.
//
//   absl::StatusOr<int> ParsePort(absl::string_view text);
//   absl::Status Listen(absl::string_view text) {
//     HILO_ASSIGN_OR_RETURN(int port, ParsePort(text));
//     HILO_RETURN_IF_ERROR(Bind(port));
//     return absl::OkStatus();
//   }
#ifndef HILO_RUNTIME_COMMON_STATUS_MACROS_H_
#define HILO_RUNTIME_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HILO_RETURN_IF_ERROR(expr)                      \
  do {                                                  \
    const ::absl::Status hilo_status_internal = (expr); \
    if (!hilo_status_internal.ok()) return hilo_status_internal; \
  } while (false)

#define HILO_STATUS_MACROS_CONCAT_INNER(a, b) a##b
#define HILO_STATUS_MACROS_CONCAT(a, b) HILO_STATUS_MACROS_CONCAT_INNER(a, b)

#define HILO_ASSIGN_OR_RETURN(lhs, expr) \
  HILO_ASSIGN_OR_RETURN_IMPL(HILO_STATUS_MACROS_CONCAT(hilo_statusor_, __LINE__), lhs, expr)

#define HILO_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // HILO_RUNTIME_COMMON_STATUS_MACROS_H_
