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

}  // namespace cpu
}  // namespace fastconv
