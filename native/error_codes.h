// error_codes.h — the ERR_CONDIS_* codes the native side raises, as named constants.
//
// Plain C++ (no napi.h), beside errors.h. The registry of every code, with its meaning, is
// lib/errors.ts `ErrorCodes` (the public API, shared by both sides); this header holds only the
// native subset, spelled once. Why not generate one side from the other: a generated file needs a
// build step both node-gyp and the plain C++ test build would have to run; instead
// test/unit/error-codes.test.ts parses this header and fails if a code here is missing from the
// registry (or from the README's table), and fails on any ERR_CONDIS_* string literal in native/
// outside this header. So a new native code cannot drift silently: it is added here, then the test
// says to list it in lib/errors.ts and the README.
// Ring errors are not here: native/virtq.h `enum RingError` numbers them, lib/errors.ts names them.
#pragma once

namespace condis::codes {

inline constexpr const char kInvalidArg[] = "ERR_CONDIS_INVALID_ARG";
inline constexpr const char kInvalidState[] = "ERR_CONDIS_INVALID_STATE";
inline constexpr const char kBadRegion[] = "ERR_CONDIS_BAD_REGION";
inline constexpr const char kDeviceClosed[] = "ERR_CONDIS_DEVICE_CLOSED";
inline constexpr const char kVidInUse[] = "ERR_CONDIS_VID_IN_USE";
inline constexpr const char kPairInUse[] = "ERR_CONDIS_PAIR_IN_USE";
inline constexpr const char kUringLayout[] = "ERR_CONDIS_URING_LAYOUT";

}  // namespace condis::codes
