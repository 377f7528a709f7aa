// build_info() and device queries.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "cpu/isa.h"

#ifdef FASTCONV_WITH_CUDA
#include "fastconv/cuda_info.h"
#endif

#ifndef FASTCONV_VERSION
#define FASTCONV_VERSION "unknown"
#endif
#ifndef FASTCONV_CXX_COMPILER
#define FASTCONV_CXX_COMPILER "unknown"
#endif

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

py::list detected_cpu_features() {
  py::list out;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) out.append("sse4.2");
  if (__builtin_cpu_supports("avx")) out.append("avx");
  if (__builtin_cpu_supports("avx2")) out.append("avx2");
  if (__builtin_cpu_supports("fma")) out.append("fma");
  if (__builtin_cpu_supports("avx512f")) out.append("avx512f");
  if (__builtin_cpu_supports("avx512bw")) out.append("avx512bw");
  if (__builtin_cpu_supports("avx512vl")) out.append("avx512vl");
#endif
  return out;
}

const char* target_arch() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "other";
#endif
}

}  // namespace

void register_runtime_info(py::module_& m) {
  m.def("native_build_info", [] {
    py::dict d;
    d["version"] = FASTCONV_VERSION;
    d["compiler"] = FASTCONV_CXX_COMPILER;
    d["arch"] = target_arch();
    d["cpu_features"] = detected_cpu_features();
    py::list compiled;
    for (auto isa : fastconv::cpu::compiled_isas()) compiled.append(fastconv::cpu::isa_name(isa));
    d["cpu_isa_compiled"] = compiled;
    d["cpu_isa_selected"] = fastconv::cpu::isa_name(fastconv::cpu::selected_isa());
#ifdef FASTCONV_WITH_CUDA
    d["cuda"] = true;
    d["cuda_archs"] = std::string(FASTCONV_CUDA_ARCHS);
    d["cuda_compiler_version"] = std::string(FASTCONV_CUDA_VERSION);
    d["cuda_runtime_version"] = fastconv::cuda::runtime_version();
#else
    d["cuda"] = false;
    d["cuda_archs"] = "";
#endif
    return d;
  });
  m.def("cuda_device_count", [] {
#ifdef FASTCONV_WITH_CUDA
    return fastconv::cuda::device_count();
#else
    return 0;
#endif
  });
  m.def("cuda_device_name", [](int index) {
#ifdef FASTCONV_WITH_CUDA
    return fastconv::cuda::device_name(index);
#else
    (void)index;
    return std::string();
#endif
  }, py::arg("index") = 0);
}

}  // namespace bindings
}  // namespace fastconv
