// spectro from C++: stft -> istft round trip of a batch of signals, compared with torch::stft, the gradient of a
// loss through both transforms (autograd is registered in C++, so it works without Python), and a log-mel with its
// gradient (spectro::mel_analysis). Runs on CUDA when available, else on the CPU. Prints the errors; exits non-zero
// if one exceeds its float32 bound.
#include <spectro/spectro.h>
#include <torch/torch.h>

#include <cstdio>

int main() {
  const bool cuda = torch::cuda::is_available();
  const torch::Device device = cuda ? torch::kCUDA : torch::kCPU;
  torch::manual_seed(0);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
  const int64_t n_fft = 1024, hop = 256, length = 16000;

  const torch::Tensor x = torch::randn({2, length}, opts).requires_grad_(true);
  const torch::Tensor window = torch::hann_window(n_fft, opts);

  // As torch::stft / torch::istft (the same arguments), on spectro's kernels.
  const torch::Tensor spec = spectro::stft(x, n_fft, hop, std::nullopt, window, /*center=*/true, "reflect",
                                           /*normalized=*/false, std::nullopt, /*return_complex=*/true);
  const torch::Tensor y = spectro::istft(spec, n_fft, hop, std::nullopt, window, /*center=*/true,
                                         /*normalized=*/false, std::nullopt, /*length=*/length);

  const torch::Tensor reference = torch::stft(x.detach(), n_fft, hop, std::nullopt, window, true, "reflect", false,
                                              std::nullopt, true);
  const double stft_error = (spec.detach() - reference).abs().max().item<double>() /
                            reference.abs().max().item<double>();
  const double roundtrip_error = (y.detach() - x.detach()).abs().max().item<double>();

  // istft(stft(x)) = x, so the gradient of sum(y * g) in x is g.
  const torch::Tensor g = torch::randn({2, length}, opts);
  (y * g).sum().backward();
  const double grad_error = (x.grad() - g).abs().max().item<double>();

  // The mel frontend's op: a 4-band log-mel of x (a basis of four bands over bins 1 .. 8), against the same formula
  // on torch::stft, and its gradient in x (spectro's own backward on CUDA).
  const torch::Tensor basis = torch::zeros({4, n_fft / 2 + 1}, opts).index_put_(
      {torch::indexing::Slice(), torch::indexing::Slice(1, 9)}, 0.125);
  const int64_t n_frames = 1 + length / hop;
  const torch::Tensor mel = spectro::mel_analysis(x, window, basis, n_fft, hop, n_frames, n_fft / 2, "reflect", 1.0,
                                                  2.0, 0.0, "add", 1e-3, 1.0);
  const torch::Tensor mel_ref = (torch::matmul(basis, reference.abs().square()) + 1e-3).log();
  const double mel_error = (mel.detach() - mel_ref).abs().max().item<double>();
  x.mutable_grad() = torch::Tensor();
  mel.sum().backward();
  const bool mel_grad_ok = x.grad().defined() && x.grad().isfinite().all().item<bool>() &&
                           x.grad().abs().max().item<double>() > 0;

  std::printf("device %s, spectrum %s\n", cuda ? "cuda" : "cpu", torch::str(spec.sizes()).c_str());
  std::printf("stft against torch::stft (max relative):  %.3g\n", stft_error);
  std::printf("istft(stft(x)) - x (max absolute):         %.3g\n", roundtrip_error);
  std::printf("gradient through both - expected (max):    %.3g\n", grad_error);
  std::printf("log-mel against torch::stft's (max absolute):  %.3g; its gradient %s\n", mel_error,
              mel_grad_ok ? "finite, nonzero" : "MISSING OR NOT FINITE");
  // float32: FFT rounding ~ eps32 * log2(n_fft) relative to the largest coefficient; |x| ~ 4 at most here. The log
  // of a band of eight bins (mean power ~ n_fft / 2 for unit noise): a few eps32.
  const bool ok = stft_error < 1e-5 && roundtrip_error < 1e-4 && grad_error < 1e-4 && mel_error < 1e-4 && mel_grad_ok;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
