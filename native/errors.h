// errors.h — how the native side reports failure without throwing across threads or into N-API.
//
// Plain C++ (no napi.h). An OS failure keeps errno and the syscall name, so lib/errors.ts can
// build a Node-style SystemError (code 'EPERM', 'EBUSY', ...); the project's own failures carry a
// stable ERR_CONDIS_* code, one of the constants of error_codes.h (condis::codes::k...).
// device_wrap.cc turns an Error into a JS exception.
#pragma once

#include <string>

#include "error_codes.h"

namespace condis {

struct Error {
  int sys_errno = 0;              // > 0 for an OS failure
  const char* syscall = nullptr;  // "open", "ioctl(TUNSETIFF)", ... for an OS failure
  std::string code;               // "EPERM" for OS failures, "ERR_CONDIS_..." otherwise; "" = ok
  std::string message;            // one sentence a user can act on

  bool ok() const { return code.empty(); }
  explicit operator bool() const { return !ok(); }  // true when there is an error

  // An OS failure: code becomes the errno name ("EPERM"); message is prefixed to strerror.
  static Error os(int err, const char* syscall, const std::string& what);
  // A project failure with a stable ERR_CONDIS_* code: a constant of error_codes.h.
  static Error condis(const char* code, const std::string& message);
};

// "EPERM" for EPERM, ... ("E<number>" if unknown).
const char* errno_name(int err);

}  // namespace condis
