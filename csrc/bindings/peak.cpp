// The machine's measured FMA peak (cpu/fma_peak.h), for the bench's "% of peak" column.
#include <pybind11/pybind11.h>

#include <stdexcept>

#include "cpu/fma_peak.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

void register_peak(py::module_& m) {
  m.def(
      "fma_peak_gflops",
      [](double seconds, int threads) {
        if (!(seconds > 0.0)) throw py::value_error("fma_peak_gflops: seconds must be > 0");
        py::gil_scoped_release release;
        return fastconv::cpu::fma_peak_gflops(seconds, threads);
      },
      py::arg("seconds") = 0.08, py::arg("threads") = 1,
      "float32 GFLOP/s of the selected ISA's FMA throughput loop (many independent accumulators, no\n"
      "memory traffic) run on `threads` pool threads at once for about `seconds` each (threads <= 0:\n"
      "get_num_threads()). Keep threads <= get_num_threads(): extra chunks queue behind the others.");
}

}  // namespace bindings
}  // namespace fastconv
