// cpu_relax.h — the spin-wait hint for busy-poll loops (Device::spin_for_work), one per
// architecture, so the addon builds for any Linux target (no -march, no x86-only builtin in the
// loops). As Linux's own cpu_relax(): x86 PAUSE, arm64 YIELD, elsewhere a compiler barrier.
#pragma once

namespace condis {

// Tells the core this thread is spinning: on x86 PAUSE yields the pipeline to the sibling
// hyperthread and avoids the memory-order mis-speculation flush when the loop exits; on arm64
// YIELD hints the same to an SMT core (most arm64 cores treat it as a NOP). Not a fence: the
// loads that follow are ordered by their own atomics.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  // No hint on this target: at least keep the compiler from folding the spin loop away.
  __asm__ __volatile__("" ::: "memory");
#endif
}

}  // namespace condis
