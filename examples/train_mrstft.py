"""Train a small waveform model with spectro's spectral losses: the losses vocoders and codecs train with.

    python examples/train_mrstft.py                       # best device, 200 steps, auraloss-style MR-STFT loss
    python examples/train_mrstft.py --loss mel            # DAC / BigVGAN multi-scale mel loss
    python examples/train_mrstft.py --compile --amp       # torch.compile the step; bf16 autocast on CUDA

The model (a few 1D convolutions) learns to turn a noisy, low-passed signal back into the clean one. The loss
(--loss) is one of
  auraloss: spectro.losses.MultiResolutionSTFTLoss (auraloss 0.4's: spectral convergence + log magnitude at three
            resolutions, averaged);
  mel:      spectro.losses.MelSpectrogramLoss (DAC's training configuration: 7 scales, 32..2048-sample windows,
            L1 of log10 mel magnitudes, summed);
  pwg:      spectro.MultiResolutionSTFTLoss (Parallel WaveGAN's (spectral convergence, log magnitude) pair, added);
plus an L1 waveform term. Everything a training loop needs from stft goes through spectro: forward, backward, bf16
inputs under autocast, torch.compile, and no host synchronisation.
"""
import argparse
import time

import torch

import spectro


def make_batch(B: int, T: int, sr: int, gen: torch.Generator, device):
    t = torch.arange(T) / sr
    f0 = 110 * 2 ** (torch.rand(B, 1, generator=gen) * 3)  # 110..880 Hz
    clean = sum((0.6 / k) * torch.sin(2 * torch.pi * k * f0 * t + torch.rand(B, 1, generator=gen) * 6.28)
                for k in range(1, 6))
    noisy = clean + 0.3 * torch.randn(B, T, generator=gen)
    kernel = torch.ones(1, 1, 9) / 9  # crude low-pass
    noisy = torch.nn.functional.conv1d(noisy[:, None], kernel, padding=4)[:, 0]
    return noisy.to(device), clean.to(device)


class Net(torch.nn.Module):
    def __init__(self, ch: int = 32):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv1d(1, ch, 15, padding=7), torch.nn.GELU(),
            torch.nn.Conv1d(ch, ch, 15, padding=7), torch.nn.GELU(),
            torch.nn.Conv1d(ch, 1, 15, padding=7))

    def forward(self, x):
        return x + self.net(x[:, None])[:, 0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--samples", type=int, default=16000)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step's loss")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (the model's output reaches the loss in bf16)")
    p.add_argument("--loss", choices=("auraloss", "mel", "pwg"), default="auraloss",
                   help="spectral loss: spectro.losses.MultiResolutionSTFTLoss (auraloss), "
                        "spectro.losses.MelSpectrogramLoss (DAC) or spectro.MultiResolutionSTFTLoss (Parallel WaveGAN)")
    args = p.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)

    model = Net().to(device)
    sr = 16000
    if args.loss == "auraloss":
        spectral = spectro.losses.MultiResolutionSTFTLoss(output="full").to(device)
        names = ("spectral convergence", "log magnitude")
    elif args.loss == "mel":
        spectral = spectro.losses.MelSpectrogramLoss(sr).to(device)
        names = ("mel",)
    else:
        spectral = spectro.MultiResolutionSTFTLoss().to(device)
        names = ("spectral convergence", "log magnitude")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def spectral_terms(pred, clean):
        """The spectral loss and its terms (each averaged over the resolutions where there are several)."""
        if args.loss == "auraloss":
            loss, sc, log_mag, _, _ = spectral(pred[:, None], clean[:, None])  # auraloss takes (B, C, T)
            return loss, (sum(sc) / len(sc), sum(log_mag) / len(log_mag))
        if args.loss == "mel":
            loss = spectral(pred, clean)
            return loss, (loss,)
        sc, mag = spectral(pred, clean)
        return sc + mag, (sc, mag)

    def loss_fn(noisy, clean):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            pred = model(noisy)
            spec_loss, terms = spectral_terms(pred, clean)
            return spec_loss + (pred.float() - clean).abs().mean(), terms

    step_fn = torch.compile(loss_fn) if args.compile else loss_fn
    print(f"spectro {spectro.__version__} | torch {torch.__version__} | device {device} | "
          f"compile={args.compile} amp={args.amp} loss={args.loss}")
    first = None
    t0 = time.perf_counter()
    for step in range(args.steps):
        noisy, clean = make_batch(args.batch, args.samples, sr, gen, device)
        loss, terms = step_fn(noisy, clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step == 0 or (step + 1) % max(1, args.steps // 5) == 0:
            vals = [v.item() for v in (loss,) + tuple(terms)]  # a sync, for printing only
            first = vals[0] if first is None else first
            print(f"step {step + 1:4d}  loss {vals[0]:.4f}  "
                  + "  ".join(f"{n} {v:.4f}" for n, v in zip(names, vals[1:])))
    if device.type == "cuda":
        torch.cuda.synchronize()
    print(f"{args.steps} steps in {time.perf_counter() - t0:.1f} s; loss {first:.4f} -> {loss.item():.4f}")


if __name__ == "__main__":
    main()
