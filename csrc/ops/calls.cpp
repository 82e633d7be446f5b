// spectro — the core ops through the dispatcher, from C++ (the autograd: the backward of one op is the other; the
// torch-semantics layer; the Python binding): typed calls, no argument boxing.
#include <ATen/core/dispatch/Dispatcher.h>

#include "ops.h"

namespace spectro {

namespace {
using AnalysisSig = at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, int64_t, c10::SymInt, int64_t,
                               c10::string_view, bool, c10::string_view, double, std::optional<at::ScalarType>);
using SynthesisSig = AnalysisSig;
}  // namespace

at::Tensor call_analysis(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop,
                         const c10::SymInt& n_frames, int64_t pad, const std::string& pad_mode, bool env_normalize,
                         const std::string& fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("spectro::analysis", "").typed<AnalysisSig>();
  return op.call(x, window, n_fft, hop, n_frames, pad, pad_mode, env_normalize, fft_mode, scale, out_dtype);
}

at::Tensor call_synthesis(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop,
                          const c10::SymInt& length, int64_t pad, const std::string& pad_mode, bool env_normalize,
                          const std::string& fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("spectro::synthesis", "").typed<SynthesisSig>();
  return op.call(spec, window, n_fft, hop, length, pad, pad_mode, env_normalize, fft_mode, scale, out_dtype);
}

}  // namespace spectro
