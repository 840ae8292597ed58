"""Time and peak memory of losskit's hot losses against eager PyTorch,
torch.compile and installed peers: the same as ``losskit bench``.

    python benchmarks/bench_losses.py --quick            # a fast look
    python benchmarks/bench_losses.py cross_entropy      # one loss, full sizes
    python benchmarks/bench_losses.py --list             # the cases
"""

from losskit.bench import main

if __name__ == "__main__":
    main()
