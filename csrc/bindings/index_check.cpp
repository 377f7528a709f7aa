// Private bindings of the index arithmetic the CUDA kernels use (fastconv/pool_index.h), compiled
// into every build so that tests/test_gpu_index.py checks it against brute force on any machine.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <tuple>

#include "fastconv/conv.h"
#include "fastconv/pool.h"
#include "fastconv/pool_index.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

namespace ix = fastconv::index;

// The index functions at width I: the helpers with Divider<I> divisors (FastDivmod for int32_t).
template <typename I>
void register_width(py::module_& m, const std::string& prefix) {
  using D = ix::Divider<I>;
  m.def((prefix + "floor_div").c_str(), [](I a, I b) { return ix::floor_div(a, D(b)); });
  m.def((prefix + "ceil_div").c_str(), [](I a, I b) { return ix::ceil_div(a, D(b)); });
  m.def((prefix + "inside_taps").c_str(), [](I start, I k, I d, I L) {
    const ix::RangeOf<I> r = ix::inside_taps(start, k, D(d), L);
    return std::make_tuple(r.lo, r.hi);
  });
  m.def((prefix + "avg_window").c_str(), [](I o, I k, I stride, I pad, I L) {
    const ix::AvgSpanOf<I> s = ix::avg_window(o, k, stride, pad, L);
    return std::make_tuple(s.size, s.lo, s.hi);
  });
  m.def((prefix + "avg_divisor").c_str(), [](std::tuple<I, I, I> h, std::tuple<I, I, I> w, bool count_include_pad,
                                             I divisor_override) {
    const ix::AvgSpanOf<I> sh{std::get<0>(h), std::get<1>(h), std::get<2>(h)};
    const ix::AvgSpanOf<I> sw{std::get<0>(w), std::get<1>(w), std::get<2>(w)};
    return ix::avg_divisor(sh, sw, count_include_pad, divisor_override);
  });
  m.def((prefix + "covering_outputs").c_str(), [](I i, I extent, I stride, I pad, I out) {
    const ix::RangeOf<I> r = ix::covering_outputs(i, extent, D(stride), pad, out);
    return std::make_tuple(r.lo, r.hi);
  });
  m.def((prefix + "tap_output").c_str(),
        [](I i, I tap, I stride, I pad, I out) { return ix::tap_output(i, tap, D(stride), pad, out); });
  m.def((prefix + "unravel").c_str(), [](I i, I C, I H, I W, bool channels_last) {
    const ix::Coord4Of<I> q = ix::unravel(i, ix::make_walk<I>(C, H, W, channels_last), channels_last);
    return std::make_tuple(q.n, q.c, q.h, q.w);
  });
}

}  // namespace

void register_index_check(py::module_& m) {
  m.def("_index_floor_div", [](int64_t a, int64_t b) { return ix::floor_div(a, b); });
  m.def("_index_ceil_div", [](int64_t a, int64_t b) { return ix::ceil_div(a, b); });
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
  m.def("_index_tap_output", [](int64_t i, int64_t tap, int64_t stride, int64_t pad, int64_t out) {
    return ix::tap_output(i, tap, stride, pad, out);
  });
  m.def("_index_unravel", [](int64_t i, int64_t C, int64_t H, int64_t W, bool channels_last) {
    const ix::Coord4 q = channels_last ? ix::unravel_nhwc(i, C, H, W) : ix::unravel_nchw(i, C, H, W);
    return std::make_tuple(q.n, q.c, q.h, q.w);
  });
  // The same functions at each width the element kernels use, Divider-based.
  register_width<int64_t>(m, "_index64_");
  register_width<int32_t>(m, "_index32_");
}

}  // namespace bindings
}  // namespace fastconv
