"""revelio's benchmark suite: throughput and memory per method, floors and peers side by side.

Run it as ``python -m benchmarks`` (``--help`` lists the options; ``--quick`` runs a small
subset in about a minute). Every figure is measured in one process, workloads
interleaved round by round, so a noisy machine slows them alike; the report gives
medians, spreads and ratios to two floors measured in the same run: a bare forward
pass under ``no_grad`` and a forward plus a backward pass to the input only. Peers
(Captum, pytorch-grad-cam, torch-cam) run on the same inputs when installed, and each
peer's result is compared with revelio's before its time is reported.

Modules:

- :mod:`benchmarks.measure`: timers (CUDA events or ``perf_counter``), interleaved
  rounds, peak memory, statistics;
- :mod:`benchmarks.models`: models with random weights, layers, inputs;
- :mod:`benchmarks.peers`: lazy imports of the peer libraries;
- :mod:`benchmarks.attribution`: attribution workloads (floors, revelio, peers, a
  PytorchRevelio-style loop) and their numerical agreement;
- :mod:`benchmarks.featureviz`: activation maximization and deep dream against a
  PytorchRevelio-style loop (one unit per call) and a hand-written floor;
- :mod:`benchmarks.targets`: the performance targets, checked against the results;
- :mod:`benchmarks.report`: JSON, Markdown and a PNG chart;
- :mod:`benchmarks.cli`: presets and the command line.
"""
