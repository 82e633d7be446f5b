// spectro — istft's NOLA condition and its pass cache (see nola.h).
#include "nola.h"

#include <c10/util/intrusive_ptr.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "../kernels/common.h"
#include "../ops/aten_geometry.h"

namespace spectro {
namespace api {
namespace {

std::atomic<int64_t> g_host_checks{0};
std::atomic<CaptureQuery> g_capture_query{nullptr};

struct Key {
  int64_t version, n_fft, hop, win_length, n_frames, start, end;
  at::ScalarType spec_dtype;
  bool half_storage;
  at::Device device;
  bool operator==(const Key& o) const {
    return version == o.version && n_fft == o.n_fft && hop == o.hop && win_length == o.win_length &&
           n_frames == o.n_frames && start == o.start && end == o.end && spec_dtype == o.spec_dtype &&
           half_storage == o.half_storage && device == o.device;
  }
};

struct Entry {
  std::optional<c10::weak_intrusive_ptr<c10::TensorImpl>> window;  // none for the rectangular window
  std::vector<Key> passed;
};

class PassCache {
 public:
  bool contains(const at::Tensor& window, const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(window.defined() ? window.unsafeGetTensorImpl() : nullptr);
    if (it == entries_.end() || !live(it->second, window)) return false;
    for (const Key& k : it->second.passed) {
      if (k == key) return true;
    }
    return false;
  }

  void insert(const at::Tensor& window, const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    c10::TensorImpl* impl = window.defined() ? window.unsafeGetTensorImpl() : nullptr;
    auto it = entries_.find(impl);
    if (it != entries_.end() && !live(it->second, window)) {
      entries_.erase(it);
      it = entries_.end();
    }
    if (it == entries_.end()) {
      if (entries_.size() >= kPruneAt) prune();
      Entry e;
      if (window.defined()) e.window.emplace(window.getIntrusivePtr());
      it = entries_.emplace(impl, std::move(e)).first;
    }
    it->second.passed.push_back(key);
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.clear();
  }

  int64_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    int64_t n = 0;
    for (const auto& e : entries_) n += static_cast<int64_t>(e.second.passed.size());
    return n;
  }

 private:
  static constexpr size_t kPruneAt = 256;

  // The entry still belongs to this window: the tensor it was made for is alive (then it is this one, since they
  // share the address). A freed window's entry never matches a new tensor at its address.
  static bool live(const Entry& e, const at::Tensor& window) {
    if (!window.defined()) return true;
    return e.window.has_value() && !e.window->expired();
  }

  void prune() {
    for (auto it = entries_.begin(); it != entries_.end();) {
      const bool dead = it->first != nullptr && (!it->second.window.has_value() || it->second.window->expired());
      it = dead ? entries_.erase(it) : std::next(it);
    }
  }

  std::mutex mutex_;
  std::unordered_map<const c10::TensorImpl*, Entry> entries_;
};

PassCache& cache() {
  static PassCache c;
  return c;
}

bool capturing(const at::Device& device) {
  const CaptureQuery q = g_capture_query.load();
  return device.is_cuda() && q != nullptr && q(device);
}

// min over [start, end) of |envelope|, read on the host.
double envelope_min(const NolaCheck& c) {
  const at::Tensor w = c.window.detach();
  const at::Tensor env = geometry::frame_sum(w * w, c.hop, c10::SymInt(c.n_frames));
  ++g_host_checks;
  return env.narrow(0, c.start, c.end - c.start).abs().min().item<double>();
}

}  // namespace

void nola_check(const NolaCheck& c, bool traced) {
  if (c.safety == Safety::Off || traced) return;
  const bool capture = capturing(c.window.device());
  std::optional<Key> key;
  if (c.safety == Safety::Auto) {
    if (capture) return;
    const at::Tensor& w = c.caller_window;
    const int64_t version = !w.defined() || w.is_inference() ? -1 : static_cast<int64_t>(w._version());
    key = Key{version, c.n_fft, c.hop, c.win_length, c.n_frames, c.start, c.end, c.spec_dtype, c.half_storage,
              c.window.device()};
    if (cache().contains(w, *key)) return;
  } else {
    TORCH_CHECK(!capture,
                "spectro.istft: safety='always' and torch_like=True check the NOLA condition on the host, which "
                "cannot happen during CUDA graph capture; use safety='auto' (checked before capture) or 'off'");
  }
  const double lowest = envelope_min(c);
  if (lowest < kernels::kEnvelopeEps) {
    TORCH_CHECK(!c.torch_like, "spectro.istft: window overlap add min: ", py_g(lowest),
                " < 1e-11 (NOLA condition failed)");
    TORCH_WARN("spectro.istft: the window envelope falls to ", py_g(lowest),
               " (< 1e-11, NOLA condition failed); output samples there are set to 0 (torch.istft would raise; pass "
               "torch_like=True for that)");
  } else if (c.safety == Safety::Auto) {
    cache().insert(c.caller_window, *key);
  }
}

int64_t nola_host_checks() { return g_host_checks.load(); }
void nola_cache_clear() { cache().clear(); }
int64_t nola_cache_entries() { return cache().size(); }
void set_capture_query(CaptureQuery q) { g_capture_query.store(q); }

}  // namespace api
}  // namespace spectro
