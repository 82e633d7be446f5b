// spectro — the CPU backend's direct FFT through MKL's DFTI (mkl_dft.h).
//
// The entry points are declared weak: libspectro links against torch's CPU library, which on x86-64 Linux carries
// MKL and exports DFTI's C functions; where it does not, they resolve to null and the callers take ATen's FFT. The
// configuration values below are those of DFTI's C interface (mkl_dfti.h's enums, stable across MKL releases);
// enumerated values go through the variadic DftiSetValue as int, counts and distances as long (MKL_LONG).
#include "mkl_dft.h"

#include <algorithm>
#include <array>
#include <cstdint>

#if defined(__linux__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SPECTRO_MKL_DFT 1
#else
#define SPECTRO_MKL_DFT 0
#endif

#if SPECTRO_MKL_DFT
// Declared as DFTI declares them, variadic where it is (the caller of a variadic function sets the count of vector
// registers it passes; some MKL builds' prologues jump by that count).
extern "C" {
struct DFTI_DESCRIPTOR;
long DftiCreateDescriptor_s_1d(DFTI_DESCRIPTOR**, int, ...) __attribute__((weak));
long DftiCreateDescriptor_d_1d(DFTI_DESCRIPTOR**, int, ...) __attribute__((weak));
long DftiSetValue(DFTI_DESCRIPTOR*, int, ...) __attribute__((weak));
long DftiCommitDescriptor(DFTI_DESCRIPTOR*) __attribute__((weak));
long DftiComputeForward(DFTI_DESCRIPTOR*, void*, ...) __attribute__((weak));
long DftiFreeDescriptor(DFTI_DESCRIPTOR**) __attribute__((weak));
}
#endif

namespace spectro {

#if SPECTRO_MKL_DFT
namespace {

// DFTI's configuration parameters and values (mkl_dfti.h).
enum : int {
  kNumberOfTransforms = 7,
  kConjugateEvenStorage = 10,
  kPlacement = 11,
  kInputDistance = 14,
  kOutputDistance = 15,
  kThreadLimit = 27,
  kDomainComplex = 32,
  kDomainReal = 33,
  kComplexComplex = 39,
  kNotInplace = 44,
};

// A committed descriptor: `count` transforms of length n, real or complex input, single or double precision, input
// rows n (real or complex) values apart, output rows `out_distance` complex values apart, one thread (the callers
// run inside at::parallel_for).
struct Key {
  int64_t n = 0, count = 0, out_distance = 0;
  bool real = false, dbl = false;
  bool operator==(const Key& o) const {
    return n == o.n && count == o.count && out_distance == o.out_distance && real == o.real && dbl == o.dbl;
  }
};

DFTI_DESCRIPTOR* create(const Key& k) {
  DFTI_DESCRIPTOR* h = nullptr;
  const int domain = k.real ? kDomainReal : kDomainComplex;
  const long st = k.dbl ? DftiCreateDescriptor_d_1d(&h, domain, static_cast<long>(k.n))
                        : DftiCreateDescriptor_s_1d(&h, domain, static_cast<long>(k.n));
  if (st != 0 || h == nullptr) return nullptr;
  bool ok = DftiSetValue(h, kPlacement, kNotInplace) == 0 &&
            DftiSetValue(h, kNumberOfTransforms, static_cast<long>(k.count)) == 0 &&
            DftiSetValue(h, kInputDistance, static_cast<long>(k.n)) == 0 &&
            DftiSetValue(h, kOutputDistance, static_cast<long>(k.out_distance)) == 0 &&
            DftiSetValue(h, kThreadLimit, 1L) == 0;
  if (ok && k.real) ok = DftiSetValue(h, kConjugateEvenStorage, kComplexComplex) == 0;
  if (ok) ok = DftiCommitDescriptor(h) == 0;
  if (!ok) {
    DftiFreeDescriptor(&h);
    return nullptr;
  }
  return h;
}

// Each thread's descriptors, the most recently used first (a call's chunks need one or two: full chunks and the
// last, shorter one); the least recently used is freed past kEntries.
class DescriptorCache {
 public:
  DescriptorCache() = default;
  DescriptorCache(const DescriptorCache&) = delete;
  DescriptorCache& operator=(const DescriptorCache&) = delete;
  ~DescriptorCache() {
    for (auto& e : entries_) {
      if (e.handle != nullptr) DftiFreeDescriptor(&e.handle);
    }
  }
  DFTI_DESCRIPTOR* get(const Key& k) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.handle != nullptr && e.key == k; });
    if (it == entries_.end()) {  // a new descriptor in the least recently used entry's place
      DFTI_DESCRIPTOR* h = create(k);
      if (h == nullptr) return nullptr;
      it = entries_.end() - 1;
      if (it->handle != nullptr) DftiFreeDescriptor(&it->handle);
      *it = Entry{k, h};
    }
    std::rotate(entries_.begin(), it, it + 1);  // (to the front)
    return entries_.front().handle;
  }

 private:
  static constexpr size_t kEntries = 8;
  struct Entry {
    Key key;
    DFTI_DESCRIPTOR* handle = nullptr;
  };
  std::array<Entry, kEntries> entries_{};
};

}  // namespace

bool mkl_dft_available() {
  static const bool available = DftiCreateDescriptor_s_1d != nullptr && DftiCreateDescriptor_d_1d != nullptr &&
                                DftiSetValue != nullptr && DftiCommitDescriptor != nullptr &&
                                DftiComputeForward != nullptr && DftiFreeDescriptor != nullptr;
  return available;
}

bool frames_to_spectrum_into(const OpArgs& a, const at::Tensor& frames, const at::Tensor& out) {
  if (!mkl_dft_available()) return false;
  const bool real = a.mode == FftMode::Rfft || a.mode == FftMode::RfftDouble;
  if (!real && a.mode != FftMode::Fft) return false;
  const int64_t n = a.g.n_fft, rows = frames.size(0);
  if (frames.dim() != 2 || frames.size(1) != n || !frames.is_contiguous() || out.dim() != 2 || out.size(0) != rows ||
      out.size(1) != a.bins || out.stride(1) != 1 || (rows > 1 && out.stride(0) < a.bins) || rows == 0)
    return false;
  const at::ScalarType st = frames.scalar_type();
  const bool dbl = st == at::kDouble || st == at::kComplexDouble;
  if (real ? !(st == at::kFloat || st == at::kDouble) : !(st == at::kComplexFloat || st == at::kComplexDouble))
    return false;
  if (out.scalar_type() != (dbl ? at::kComplexDouble : at::kComplexFloat)) return false;
  thread_local DescriptorCache cache;
  DFTI_DESCRIPTOR* h = cache.get(Key{n, rows, rows > 1 ? out.stride(0) : a.bins, real, dbl});
  if (h == nullptr) return false;
  if (DftiComputeForward(h, const_cast<void*>(frames.const_data_ptr()), out.data_ptr()) != 0) return false;
  if (a.mode == FftMode::RfftDouble) double_interior_bins(a, out);
  return true;
}

#else

bool mkl_dft_available() { return false; }
bool frames_to_spectrum_into(const OpArgs&, const at::Tensor&, const at::Tensor&) { return false; }

#endif

}  // namespace spectro
