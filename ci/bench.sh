#!/usr/bin/env bash
# make bench: stock against patched kernel (reg_mr latency, refusal latency,
# perftest, dma_map_benchmark). Not written yet; the pieces it will use are
# in place: ci/kernel-build.sh --variant stock|nogate, the early-refusal
# debugfs switch (ib_umem/early_refusal) and the dma_attrs field of the
# dma_map_benchmark uAPI (kernel/0008-*).
. "$(dirname "$0")/lib.sh"
die "make bench is not implemented yet; nothing was measured"
