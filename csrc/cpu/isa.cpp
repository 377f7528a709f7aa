// CPU detection and the FASTCONV_ISA override.
#include "isa.h"

#include <cstdlib>
#include <cstring>

namespace fastconv {
namespace cpu {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

std::vector<Isa> compiled_isas() {
  std::vector<Isa> out{Isa::scalar};
#ifdef FASTCONV_HAVE_AVX2
  out.push_back(Isa::avx2);
#endif
#ifdef FASTCONV_HAVE_AVX512
  out.push_back(Isa::avx512);
#endif
  return out;
}

namespace {

bool cpu_supports(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return true;
  }
#else
  return isa == Isa::scalar;
#endif
}

Isa ceiling_from_env() {
  const char* env = std::getenv("FASTCONV_ISA");
  if (env == nullptr || *env == '\0') return Isa::avx512;
  if (std::strcmp(env, "scalar") == 0) return Isa::scalar;
  if (std::strcmp(env, "avx2") == 0) return Isa::avx2;
  return Isa::avx512;
}

Isa detect() {
  const Isa ceiling = ceiling_from_env();
  Isa best = Isa::scalar;
  for (Isa isa : compiled_isas())
    if (static_cast<int>(isa) <= static_cast<int>(ceiling) && cpu_supports(isa)) best = isa;
  return best;
}

}  // namespace

Isa selected_isa() {
  static const Isa isa = detect();
  return isa;
}

}  // namespace cpu
}  // namespace fastconv
