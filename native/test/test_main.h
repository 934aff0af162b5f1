// test_main.h — a tiny test harness for the plain-C++ native sources (no napi.h, no gtest).
//
// Include it in exactly one translation unit per test binary; it defines main(). (A second TU of
// the same binary may include it after `#define CONDIS_TEST_NO_MAIN`.)
//
//   TEST(ring_wraps) {
//     CHECK(x > 0);            // records a failure, the test goes on
//     CHECK_EQ(a, b);          // prints both values on failure
//     REQUIRE(p != nullptr);   // records a failure and returns from the test
//     REQUIRE_EQ(n, 3u);
//     SKIP("needs CAP_NET_ADMIN");  // returns; counted neither passed nor failed
//   }
//
// Run: `./x_test` runs every test; `./x_test name...` runs the tests whose name contains one of
// the arguments. Output: one line per failed check, one line per test, then a last line exactly
// "N passed, N failed" (tests, not checks). Exit status 0 iff nothing failed. A test that throws
// fails. Tests run in registration (source) order, in one process, on the main thread.
#pragma once

#include <cstdio>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

namespace condis_test {

struct TestCase {
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

struct Current {
  int failures = 0;     // failed checks in the running test
  bool skipped = false;
  std::string skip_reason;
};

inline Current& current() {
  static Current c;
  return c;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { registry().push_back(TestCase{name, fn}); }
};

inline void report_failure(const char* file, int line, const std::string& what) {
  ++current().failures;
  std::fprintf(stderr, "    %s:%d: CHECK failed: %s\n", file, line, what.c_str());
  std::fflush(stderr);
}

// Values print through operator<<; char-sized integers print as numbers.
template <typename T>
void show(std::ostringstream& os, const T& v) {
  os << v;
}
inline void show(std::ostringstream& os, unsigned char v) { os << static_cast<unsigned>(v); }
inline void show(std::ostringstream& os, signed char v) { os << static_cast<int>(v); }
inline void show(std::ostringstream& os, std::nullptr_t) { os << "nullptr"; }

template <typename A, typename B>
bool check_eq(const A& a, const B& b, const char* ea, const char* eb, const char* file, int line) {
  if (a == b) return true;
  std::ostringstream os;
  os << ea << " == " << eb << " (";
  show(os, a);
  os << " vs ";
  show(os, b);
  os << ")";
  report_failure(file, line, os.str());
  return false;
}

}  // namespace condis_test

#define TEST(name)                                                          \
  static void condis_test_fn_##name();                                      \
  static const ::condis_test::Registrar condis_test_reg_##name{#name,       \
                                                               &condis_test_fn_##name}; \
  static void condis_test_fn_##name()

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) ::condis_test::report_failure(__FILE__, __LINE__, #cond); \
  } while (0)

#define CHECK_EQ(a, b)                                                               \
  do {                                                                               \
    ::condis_test::check_eq((a), (b), #a, #b, __FILE__, __LINE__);                   \
  } while (0)

#define REQUIRE(cond)                                                     \
  do {                                                                    \
    if (!(cond)) {                                                        \
      ::condis_test::report_failure(__FILE__, __LINE__, "REQUIRE " #cond); \
      return;                                                             \
    }                                                                     \
  } while (0)

#define REQUIRE_EQ(a, b)                                                            \
  do {                                                                              \
    if (!::condis_test::check_eq((a), (b), #a, #b, __FILE__, __LINE__)) return;     \
  } while (0)

#define SKIP(reason)                               \
  do {                                             \
    ::condis_test::current().skipped = true;       \
    ::condis_test::current().skip_reason = reason; \
    return;                                        \
  } while (0)

#ifndef CONDIS_TEST_NO_MAIN
int main(int argc, char** argv) {
  using namespace condis_test;
  int passed = 0;
  int failed = 0;
  int skipped = 0;
  for (const TestCase& t : registry()) {
    if (argc > 1) {
      bool match = false;
      for (int i = 1; i < argc; ++i) match = match || std::strstr(t.name, argv[i]) != nullptr;
      if (!match) continue;
    }
    current() = Current{};
    std::fprintf(stderr, "  ... %s\n", t.name);
    std::fflush(stderr);
    try {
      t.fn();
    } catch (const std::exception& e) {
      report_failure(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    } catch (...) {
      report_failure(__FILE__, __LINE__, "uncaught non-std exception");
    }
    if (current().failures > 0) {
      ++failed;
      std::printf("FAIL %s (%d failed checks)\n", t.name, current().failures);
    } else if (current().skipped) {
      ++skipped;
      std::printf("SKIP %s: %s\n", t.name, current().skip_reason.c_str());
    } else {
      ++passed;
      std::printf("ok   %s\n", t.name);
    }
    std::fflush(stdout);
  }
  if (skipped > 0) std::printf("(%d skipped)\n", skipped);
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}
#endif
