// Private bindings of the index arithmetic the CUDA kernels use (fastconv/pool_index.h), compiled
// into every build so that tests/test_gpu_index.py checks it against brute force on any machine.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <tuple>

#include "fastconv/conv.h"
#include "fastconv/pool.h"
#include "fastconv/pool_index.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

void register_index_check(py::module_& m) {
  namespace ix = fastconv::index;
  m.def("_index_floor_div", &ix::floor_div);
  m.def("_index_ceil_div", &ix::ceil_div);
  m.def("_index_pool2d_output_size", &pool2d_output_size);
  m.def("_index_conv2d_output_size", &conv2d_output_size);
  m.def("_index_inside_taps", [](int64_t start, int64_t k, int64_t d, int64_t L) {
    const ix::Range r = ix::inside_taps(start, k, d, L);
    return std::make_tuple(r.lo, r.hi);
  });
  m.def("_index_avg_window", [](int64_t o, int64_t k, int64_t stride, int64_t pad, int64_t L) {
    const ix::AvgSpan s = ix::avg_window(o, k, stride, pad, L);
    return std::make_tuple(s.size, s.lo, s.hi);
  });
  m.def("_index_avg_divisor", [](std::tuple<int64_t, int64_t, int64_t> h, std::tuple<int64_t, int64_t, int64_t> w,
                                 bool count_include_pad, int64_t divisor_override) {
    const ix::AvgSpan sh{std::get<0>(h), std::get<1>(h), std::get<2>(h)};
    const ix::AvgSpan sw{std::get<0>(w), std::get<1>(w), std::get<2>(w)};
    return ix::avg_divisor(sh, sw, count_include_pad, divisor_override);
  });
  m.def("_index_covering_outputs", [](int64_t i, int64_t extent, int64_t stride, int64_t pad, int64_t out) {
    const ix::Range r = ix::covering_outputs(i, extent, stride, pad, out);
    return std::make_tuple(r.lo, r.hi);
  });
  m.def("_index_tap_output", &ix::tap_output);
  m.def("_index_unravel", [](int64_t i, int64_t C, int64_t H, int64_t W, bool channels_last) {
    const ix::Coord4 q = channels_last ? ix::unravel_nhwc(i, C, H, W) : ix::unravel_nchw(i, C, H, W);
    return std::make_tuple(q.n, q.c, q.h, q.w);
  });
}

}  // namespace bindings
}  // namespace fastconv
