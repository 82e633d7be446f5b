"""Calls for a profiler to look at: spectro.stft and spectro.istft at one or more configurations, after warm-up,
and the losses' forward + backward (--ops mrstft: spectro.losses.MultiResolutionSTFTLoss at auraloss' defaults;
melloss: spectro.losses.MelSpectrogramLoss at DAC's training values; B and T from the configuration, its n_fft and
hop unused), between cudaProfilerStart / Stop (so `ncu --profile-from-start off` sees only these calls' kernels, and also any
helper kernel a call launches besides the transform).

    ncu --profile-from-start off --set full python benchmarks/profile_driver.py --config 4,1300000,1024,256
    ncu --profile-from-start off --set full python benchmarks/profile_driver.py --config 72,16758,0,0 --ops melloss

scripts/gpu_check.sh runs it under ncu with PROFILE=1 (arguments from PROFILE_ARGS).
"""
import argparse

import torch

import spectro

SEED = "4,1300000,1024,256"


def parse_config(text: str):
    try:
        B, T, n_fft, hop = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--config expects B,T,n_fft,hop (four integers), got {text!r}") from None
    return B, T, n_fft, hop


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=parse_config, action="append",
                   help=f"B,T,n_fft,hop; repeat for several (default {SEED})")
    p.add_argument("--path", default="auto", choices=spectro.kernel_path.PATHS)
    p.add_argument("--calls", type=int, default=1, help="profiled calls of each op per configuration")
    p.add_argument("--ops", default="stft,istft",
                   help="comma-separated subset of stft,istft,logmel,mrstft,melloss (logmel: spectro.LogMelSpectrogram "
                        "as Whisper runs it: 80 slaney mels at 16 kHz, power 2, log10 of clamp 1e-10; mrstft, "
                        "melloss: the losses' forward + backward)")
    args = p.parse_args()
    ops = set(args.ops.split(","))
    known = {"stft", "istft", "logmel", "mrstft", "melloss"}
    if ops - known:
        p.error(f"--ops: unknown {sorted(ops - known)}")
    if ops & {"mrstft", "melloss"}:
        import spectro.losses as SL
    dev = torch.device("cuda")
    for B, T, n_fft, hop in args.config or [parse_config(SEED)]:
        x = torch.randn(B, T, device=dev)
        losses = []
        if "mrstft" in ops:
            losses.append(SL.MultiResolutionSTFTLoss().to(dev))
        if "melloss" in ops:
            losses.append(SL.MelSpectrogramLoss(44100).to(dev))  # (its defaults: DAC's training values)
        pred, target = x.unsqueeze(1).requires_grad_(True), torch.randn(B, 1, T, device=dev)

        def loss_steps():
            for loss in losses:
                loss(pred, target).backward()

        transforms = ops & {"stft", "istft", "logmel"}
        if transforms:
            w = torch.hann_window(n_fft, device=dev)
            logmel = spectro.LogMelSpectrogram(16000, n_fft, hop, n_mels=80, power=2.0, log="log10",
                                               log_eps=1e-10).to(dev)
        with spectro.kernel_path(args.path):
            if transforms:
                logmel(x)
                s = spectro.stft(x, n_fft, hop, window=w, return_complex=True)
                for _ in range(3):  # warm-up (cuFFT plans, the NOLA check of safety="auto")
                    spectro.istft(spectro.stft(x, n_fft, hop, window=w, return_complex=True), n_fft, hop, window=w,
                                  length=T)
            for _ in range(2):
                loss_steps()
            torch.cuda.synchronize()
            torch.cuda.cudart().cudaProfilerStart()
            for _ in range(args.calls):
                if "stft" in ops:
                    spectro.stft(x, n_fft, hop, window=w, return_complex=True)
                if "istft" in ops:
                    spectro.istft(s, n_fft, hop, window=w, length=T)
                if "logmel" in ops:
                    logmel(x)
                loss_steps()
            torch.cuda.synchronize()
            torch.cuda.cudart().cudaProfilerStop()
        print(f"profiled {args.calls} call(s) of {sorted(ops)}: B={B} T={T} n_fft={n_fft} hop={hop} path={args.path}")


if __name__ == "__main__":
    main()
