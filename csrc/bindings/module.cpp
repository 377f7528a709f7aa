// The _C extension: runtime controls here, op families in their own files.
#include <pybind11/pybind11.h>

#include "cpu/parallel.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {
void register_conv2d(py::module_& m);
void register_conv_index(py::module_& m);
void register_pool2d(py::module_& m);
void register_pool3d(py::module_& m);
void register_conv3d(py::module_& m);
void register_bias_add(py::module_& m);
void register_nn(py::module_& m);
void register_training(py::module_& m);
void register_peak(py::module_& m);
void register_runtime_info(py::module_& m);
void register_index_check(py::module_& m);
void register_cuda_emulation(py::module_& m);
#ifdef FASTCONV_WITH_CUDA
void register_cuda_runtime(py::module_& m);
void register_cuda_pool2d(py::module_& m);
void register_cuda_conv2d(py::module_& m);
#endif
}  // namespace bindings
}  // namespace fastconv

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastconv native kernels";
  m.def("set_num_threads", &fastconv::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &fastconv::get_num_threads);
  fastconv::bindings::register_runtime_info(m);
  fastconv::bindings::register_conv2d(m);
  fastconv::bindings::register_conv_index(m);
  fastconv::bindings::register_pool2d(m);
  fastconv::bindings::register_pool3d(m);
  fastconv::bindings::register_conv3d(m);
  fastconv::bindings::register_bias_add(m);
  fastconv::bindings::register_nn(m);
  fastconv::bindings::register_training(m);
  fastconv::bindings::register_peak(m);
  fastconv::bindings::register_index_check(m);
  fastconv::bindings::register_cuda_emulation(m);
#ifdef FASTCONV_WITH_CUDA
  fastconv::bindings::register_cuda_runtime(m);
  fastconv::bindings::register_cuda_pool2d(m);
  fastconv::bindings::register_cuda_conv2d(m);
#endif
}
