# Targets name the jobs; the work is done by the scripts in ci/ and tests/.
#   make run         the main job: build, boot soft-RoCE, show both paths
#   make check       the test run CI runs (one kernel build, under 60 min)
#   make check-full  everything: stock, nogate and KASAN kernels, Debian's
#                    own kernel, rdma-core's whole suite compared, mutants
#   make help        everything else

SHELL := /bin/bash
CONFIGS ?= direct,swiotlb,iommu
SUITES ?=
CONFIG ?= direct
export CONFIGS SUITES FRESH JOBS

.PHONY: help run check check-full check-arm64 mutants deb bench deps sources kernel kernel-stock kernel-kasan \
	kernel-nogate rdma-core vm export-kernel export-rdma-core export-debian check-compat clean

help:
	@echo "make run            build, boot soft-RoCE in QEMU, show registration working, refused, and what the refusal prevents"
	@echo "make check          the test run CI does (.ci/run): patched kernel in CONFIGS=$(CONFIGS), Debian's userspace"
	@echo "make check-full     make check plus stock, nogate, KASAN and Debian 12 kernels, pyverbs compared, mutants"
	@echo "make check-arm64    arm64 guests (QEMU virt, TCG): non-coherent, coherent, SMMUv3, nogate"
	@echo "make mutants        build the kernel with each tests/mutants/*.patch and check that the suites catch it"
	@echo "make deb            the series as Debian packages from Debian's cloud-amd64 config, booted and tested"
	@echo "                    (TEST_AIDS=1: with the series' test aids; DEBUG_INFO=1: keep Debian's debug info)"
	@echo "make bench          stock against patched kernel: reg_mr, refusal, perftest, dma_map;"
	@echo "                    production kernels (Debian's cloud-amd64 config), wall and counted time"
	@echo "make deps           apt-get what the build and the guest need (idempotent)"
	@echo "make sources        kernel + rdma-core git trees under build/, series applied"
	@echo "make kernel         build the patched kernel (build/kbuild)"
	@echo "make kernel-stock   build the same config without the series (build/kbuild-stock)"
	@echo "make kernel-kasan   the patched kernel with KASAN as well (build/kbuild-kasan)"
	@echo "make kernel-nogate  pristine plus kernel/nogate.series: the test mode without the gate"
	@echo "make rdma-core      build patched rdma-core with pyverbs (build/rdma-core/build)"
	@echo "make vm CONFIG=x    boot one configuration (direct, swiotlb, iommu), run SUITES"
	@echo "make export-kernel  turn commits in build/linux into kernel/*.patch"
	@echo "make export-rdma-core  the same for build/rdma-core"
	@echo "make export-debian SERIES=rdma-core|kernel  the series as debian/patches (DEP-3), checked with quilt"
	@echo "make check-compat   Debian sid's rdma-core on the patched kernel; ours on stock kernels"
	@echo "make clean          remove build/ (the ccache in ~/.cache stays)"

run:
	@ci/run.sh

check:
	@ci/check.sh

check-full:
	@ci/check.sh --full

check-arm64:
	@ci/check-arm64.sh

mutants:
	@ci/mutants.sh

deb: sources rdma-core
	@$(MAKE) -s -C tests RDMA_CORE_BUILD=$(CURDIR)/build/rdma-core/build
	@ci/deb.sh $(if $(filter 1,$(TEST_AIDS)),--test-aids) $(if $(filter 1,$(DEBUG_INFO)),--debug-info)

bench:
	@ci/bench.sh

deps:
	@ci/deps.sh

sources: deps
	@ci/kernel-source.sh
	@ci/rdma-core-source.sh

kernel: sources
	@ci/kernel-build.sh

kernel-stock: sources
	@ci/kernel-build.sh --variant stock

kernel-kasan: sources
	@ci/kernel-build.sh --variant kasan

kernel-nogate: sources
	@ci/kernel-build.sh --variant nogate

rdma-core: sources
	@ci/rdma-core-build.sh

vm: kernel rdma-core
	@$(MAKE) -s -C tests RDMA_CORE_BUILD=$(CURDIR)/build/rdma-core/build
	@tests/vm/run-vm.sh --config $(CONFIG) --out build/vm/vm-$(CONFIG) $(if $(SUITES),--suites $(SUITES))

export-kernel:
	@ci/series.sh export kernel

export-rdma-core:
	@ci/series.sh export rdma-core

export-debian:
	@ci/series.sh export-debian $(or $(SERIES),rdma-core) build/debian-patches/$(or $(SERIES),rdma-core)

check-compat:
	@ci/check-compat.sh

clean:
	rm -rf build
