// spectro — the Meta backend of the core ops: shapes, dtypes and strides only (symbolic sizes allowed), with the
// same dtype checks as the device backends (torch.compile, torch.export and fake tensors run these).
#include <torch/library.h>

#include "ops.h"

namespace spectro {
namespace {

at::Tensor analysis_meta(const at::Tensor& x, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                         c10::SymInt n_frames, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                         c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const char* op = "spectro::analysis";
  const FftMode mode = parse_analysis_mode(std::string(fft_mode));
  parse_pad_mode(std::string(pad_mode));
  TORCH_CHECK(x.dim() == 2, op, ": expected x of shape [batch, time], but got ", x.sym_sizes());
  TORCH_CHECK(window.dim() == 1, op, ": expected a 1D window, but got ", window.dim(), " dims");
  check_input_dtypes(op, "x", x, window, !is_real_mode(mode), fft_mode);
  const auto complex_type = c10::toComplexType(c10::toRealValueType(compute_type_of(x.scalar_type())));
  const auto out_type = check_out_dtype(op, out_dtype, complex_type);
  return at::empty_symint({x.sym_size(0), n_frames, c10::SymInt(spectrum_bins(mode, n_fft))},
                          x.options().dtype(out_type))
      .transpose(1, 2);
}

at::Tensor synthesis_meta(const at::Tensor& spec, const at::Tensor& window, int64_t n_fft, int64_t hop_length,
                          c10::SymInt length, int64_t pad, c10::string_view pad_mode, bool env_normalize,
                          c10::string_view fft_mode, double scale, std::optional<at::ScalarType> out_dtype) {
  const char* op = "spectro::synthesis";
  const FftMode mode = parse_synthesis_mode(std::string(fft_mode));
  parse_pad_mode(std::string(pad_mode));
  TORCH_CHECK(spec.dim() == 3, op, ": expected spec of shape [batch, bins, frames], but got ", spec.sym_sizes());
  TORCH_CHECK(window.dim() == 1, op, ": expected a 1D window, but got ", window.dim(), " dims");
  check_input_dtypes(op, "spec", spec, window, /*want_complex=*/true, fft_mode);
  const auto complex_type = compute_type_of(spec.scalar_type());
  const auto signal_type = is_real_mode(mode) ? c10::toRealValueType(complex_type) : complex_type;
  const auto out_type = check_out_dtype(op, out_dtype, signal_type);
  return at::empty_symint({spec.sym_size(0), std::move(length)}, spec.options().dtype(out_type));
}

}  // namespace
}  // namespace spectro

TORCH_LIBRARY_IMPL(spectro, Meta, m) {
  m.impl("analysis", TORCH_FN(spectro::analysis_meta));
  m.impl("synthesis", TORCH_FN(spectro::synthesis_meta));
}
