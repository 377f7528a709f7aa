// Stream ordering between a producer's stream and the launch stream (the __cuda_array_interface__
// `stream` field): the launch stream waits on an event recorded on the producer's stream, without
// blocking the host.
#ifdef FASTCONV_WITH_CUDA

#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings/cuda_launch.h"

namespace py = pybind11;

namespace fastconv {
namespace bindings {

namespace {

void stream_wait(uintptr_t consumer, uintptr_t producer, int device) {
  if (consumer == producer) return;
  DeviceGuard guard(device);
  cudaEvent_t event;
  cuda_check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  cudaError_t err = cudaEventRecord(event, as_stream(producer));
  if (err == cudaSuccess) err = cudaStreamWaitEvent(as_stream(consumer), event, 0);
  cudaEventDestroy(event);  // released once the wait has been satisfied
  cuda_check(err, "stream_wait");
}

}  // namespace

void register_cuda_runtime(py::module_& m) {
  m.def("cuda_stream_wait", &stream_wait, py::arg("consumer"), py::arg("producer"), py::arg("device"));
}

}  // namespace bindings
}  // namespace fastconv

#endif  // FASTCONV_WITH_CUDA
