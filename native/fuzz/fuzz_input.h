// fuzz_input.h — reads a libFuzzer input front to back as the harnesses' little formats ask
// (a geometry byte, ring images, an op script). Past the end every read gives 0, so any prefix of
// an input is itself a well-formed input: the fuzzer can grow and cut inputs freely, and a seed
// written by native/fuzz/make_seeds.py reads as the comment in each harness says.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace condis_fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}

  bool empty() const { return n_ == 0; }
  size_t left() const { return n_; }

  uint8_t u8() {
    if (n_ == 0) return 0;
    n_--;
    return *p_++;
  }
  // Little-endian, like the rings.
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return u16() | (static_cast<uint32_t>(u16()) << 16); }
  uint64_t u64() { return u32() | (static_cast<uint64_t>(u32()) << 32); }

  // Copies up to `len` bytes to `out`, zero-filling what the input lacks.
  void bytes(uint8_t* out, size_t len) {
    const size_t k = len < n_ ? len : n_;
    // SAFETY: k <= n_, the bytes left in the input; out holds len >= k bytes (caller's buffer).
    if (k != 0) std::memcpy(out, p_, k);
    if (k < len) std::memset(out + k, 0, len - k);
    p_ += k;
    n_ -= k;
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

}  // namespace condis_fuzz
