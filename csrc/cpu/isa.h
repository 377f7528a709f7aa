// CPU instruction-set paths: which were compiled in, which this machine supports, which is used.
#pragma once

#include <string>
#include <vector>

namespace fastconv {
namespace cpu {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Paths built into this binary, lowest first.
std::vector<Isa> compiled_isas();
// The best path that is compiled in, supported by this CPU, and not above FASTCONV_ISA
// (environment variable: scalar, avx2 or avx512) when that is set. Decided once per process.
Isa selected_isa();

// The selected path's function among one per ISA; a path without one (nullptr: not compiled in)
// falls back to the next lower path.
template <typename Fn>
Fn pick_for_isa(Fn scalar_fn, Fn avx2_fn, Fn avx512_fn) {
  switch (selected_isa()) {
    case Isa::avx512:
      if (avx512_fn) return avx512_fn;
      [[fallthrough]];
    case Isa::avx2:
      if (avx2_fn) return avx2_fn;
      [[fallthrough]];
    default: return scalar_fn;
  }
}

}  // namespace cpu
}  // namespace fastconv

// FASTCONV_PICK_FOR_ISA(Fn, name): the selected ISA's overload of cpu::<isa>::name with type Fn.
#ifdef FASTCONV_HAVE_AVX2
#define FASTCONV_ISA_AVX2_FN(Fn, name) static_cast<Fn>(::fastconv::cpu::avx2::name)
#else
#define FASTCONV_ISA_AVX2_FN(Fn, name) static_cast<Fn>(nullptr)
#endif
#ifdef FASTCONV_HAVE_AVX512
#define FASTCONV_ISA_AVX512_FN(Fn, name) static_cast<Fn>(::fastconv::cpu::avx512::name)
#else
#define FASTCONV_ISA_AVX512_FN(Fn, name) static_cast<Fn>(nullptr)
#endif
#define FASTCONV_PICK_FOR_ISA(Fn, name)                                                             \
  ::fastconv::cpu::pick_for_isa<Fn>(static_cast<Fn>(::fastconv::cpu::scalar::name), FASTCONV_ISA_AVX2_FN(Fn, name), \
                                    FASTCONV_ISA_AVX512_FN(Fn, name))
