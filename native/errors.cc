// errors.cc — constructors for Error; see errors.h.
#include "errors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace condis {

const char* errno_name(int err) {
  // glibc >= 2.32; returns nullptr for unknown numbers.
  const char* n = strerrorname_np(err);
  return n != nullptr ? n : "EUNKNOWN";
}

Error Error::os(int err, const char* syscall, const std::string& what) {
  Error e;
  e.sys_errno = err;
  e.syscall = syscall;
  e.code = errno_name(err);
  e.message = what + ": " + std::strerror(err);
  return e;
}

Error Error::condis(const char* code, const std::string& message) {
  Error e;
  e.code = code;
  e.message = message;
  return e;
}

}  // namespace condis
