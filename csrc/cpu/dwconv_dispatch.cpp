// Routes the depthwise loops (ukernels/dwconv.h) to the selected ISA's, chosen once per process.
#include "isa.h"
#include "ukernels/dwconv.h"

namespace fastconv {
namespace cpu {

namespace {

template <typename Fn>
Fn pick(Fn scalar_fn, Fn avx2_fn, Fn avx512_fn) {
  switch (selected_isa()) {
    case Isa::avx512: return avx512_fn ? avx512_fn : scalar_fn;
    case Isa::avx2: return avx2_fn ? avx2_fn : scalar_fn;
    default: return scalar_fn;
  }
}

#ifdef FASTCONV_HAVE_AVX2
#define FASTCONV_AVX2_OR_NULL(fn) avx2::fn
#else
#define FASTCONV_AVX2_OR_NULL(fn) nullptr
#endif
#ifdef FASTCONV_HAVE_AVX512
#define FASTCONV_AVX512_OR_NULL(fn) avx512::fn
#else
#define FASTCONV_AVX512_OR_NULL(fn) nullptr
#endif

template <typename T>
using RowsFn = void (*)(int64_t, const T* const*, int64_t, const T*, T, T*, int64_t, int64_t, int64_t);
template <typename T>
using Rows3x3Fn = void (*)(const T* const*, const int64_t*, int64_t, const T*, T, T*, int64_t, int64_t, int64_t);
template <typename T>
using Rows3x3WgradFn = void (*)(const T* const*, const int64_t*, int64_t, const T*, int64_t, int64_t, int64_t, T*);
template <typename T>
using RowsWgradFn = void (*)(int64_t, const T* const*, int64_t, const T*, int64_t, int64_t, int64_t, T*);
template <typename T>
using ChannelsFn = void (*)(int64_t, const T* const*, int64_t, const T* const*, const T*, T*, int64_t, int64_t,
                            int64_t);
template <typename T>
using Channels3x3Fn = void (*)(const T* const*, int64_t, int64_t, int64_t, const T*, int64_t, const T*, T*, int64_t,
                               int64_t, int64_t, int64_t, bool);
template <typename T>
using Channels3x3WgradFn = void (*)(const T* const*, int64_t, int64_t, int64_t, const T*, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, T*);
template <typename T>
using ChannelsWgradFn = void (*)(int64_t, const T* const*, int64_t, const T*, int64_t, int64_t, int64_t, T* const*);

// One selected function per loop and dtype; the casts pick the overload.
#define FASTCONV_DW_SELECT(FnType, name, T)                                                          \
  static const FnType<T> fn = pick<FnType<T>>(static_cast<FnType<T>>(scalar::name),                  \
                                              static_cast<FnType<T>>(FASTCONV_AVX2_OR_NULL(name)),   \
                                              static_cast<FnType<T>>(FASTCONV_AVX512_OR_NULL(name)))

}  // namespace

#define FASTCONV_DW_DISPATCH(T)                                                                            \
  void dwconv_rows(int64_t taps, const T* const* in, int64_t in_rs, const T* w, T bias, T* out,           \
                   int64_t out_rs, int64_t rows, int64_t count) {                                          \
    FASTCONV_DW_SELECT(RowsFn, dwconv_rows, T);                                                            \
    fn(taps, in, in_rs, w, bias, out, out_rs, rows, count);                                                \
  }                                                                                                        \
  void dwconv_rows_3x3(const T* const* in, const int64_t* col_off, int64_t width, const T* w, T bias,      \
                       T* out, int64_t out_rs, int64_t rows, int64_t count) {                              \
    FASTCONV_DW_SELECT(Rows3x3Fn, dwconv_rows_3x3, T);                                                     \
    fn(in, col_off, width, w, bias, out, out_rs, rows, count);                                             \
  }                                                                                                        \
  void dwconv_rows_3x3_wgrad(const T* const* in, const int64_t* col_off, int64_t width, const T* dy,       \
                             int64_t dy_rs, int64_t rows, int64_t count, T* res) {                         \
    FASTCONV_DW_SELECT(Rows3x3WgradFn, dwconv_rows_3x3_wgrad, T);                                          \
    fn(in, col_off, width, dy, dy_rs, rows, count, res);                                                   \
  }                                                                                                        \
  void dwconv_rows_wgrad(int64_t taps, const T* const* in, int64_t in_rs, const T* dy, int64_t dy_rs,      \
                         int64_t rows, int64_t count, T* res) {                                            \
    FASTCONV_DW_SELECT(RowsWgradFn, dwconv_rows_wgrad, T);                                                 \
    fn(taps, in, in_rs, dy, dy_rs, rows, count, res);                                                      \
  }                                                                                                        \
  void dwconv_channels(int64_t taps, const T* const* in, int64_t ips, const T* const* w, const T* bias,    \
                       T* out, int64_t ops, int64_t count, int64_t kc) {                                   \
    FASTCONV_DW_SELECT(ChannelsFn, dwconv_channels, T);                                                    \
    fn(taps, in, ips, w, bias, out, ops, count, kc);                                                       \
  }                                                                                                        \
  void dwconv_channels_3x3(const T* const* in, int64_t pix, int64_t col0, int64_t width, const T* w,        \
                           int64_t kc, const T* bias, T* out, int64_t out_rs, int64_t ops, int64_t rows,    \
                           int64_t count, bool stream) {                                                   \
    FASTCONV_DW_SELECT(Channels3x3Fn, dwconv_channels_3x3, T);                                             \
    fn(in, pix, col0, width, w, kc, bias, out, out_rs, ops, rows, count, stream);                          \
  }                                                                                                        \
  void dwconv_channels_3x3_wgrad(const T* const* in, int64_t pix, int64_t col0, int64_t width, const T* dy, \
                                 int64_t dy_rs, int64_t dps, int64_t rows, int64_t count, int64_t kc,      \
                                 T* res) {                                                                 \
    FASTCONV_DW_SELECT(Channels3x3WgradFn, dwconv_channels_3x3_wgrad, T);                                  \
    fn(in, pix, col0, width, dy, dy_rs, dps, rows, count, kc, res);                                        \
  }                                                                                                        \
  void dwconv_channels_wgrad(int64_t taps, const T* const* in, int64_t ips, const T* dy, int64_t dps,      \
                             int64_t count, int64_t kc, T* const* acc) {                                   \
    FASTCONV_DW_SELECT(ChannelsWgradFn, dwconv_channels_wgrad, T);                                         \
    fn(taps, in, ips, dy, dps, count, kc, acc);                                                            \
  }

FASTCONV_DW_DISPATCH(float)
FASTCONV_DW_DISPATCH(double)

}  // namespace cpu
}  // namespace fastconv
