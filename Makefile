GO ?= go
PKGS := ./...

.PHONY: build test test-purego test-race bench lint generate test-arm64 ci

build:
	$(GO) build $(PKGS)

# The README's test command: the whole suite, on the dispatched kernels and on
# the pure-Go path.
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 $(PKGS)
	$(GO) test -count=1 -tags purego $(PKGS)

# Packages with concurrency (worker pool, kernels, the training loop) under
# the race detector.
test-race:
	$(GO) test -race -count=1 ./kernels/... ./tensor/... ./autograd/... ./train/...

# The pure-Go path on a second architecture: arm64 under qemu-user
# (Debian's qemu-user package).
test-arm64:
	GOARCH=arm64 $(GO) test -count=1 -exec qemu-aarch64 ./kernels/... ./tensor/... ./autograd/...

# One table per thread count: kernel, shape, GFLOP/s or GB/s per path, and
# the ratio to the portable path. Package benchmarks: go test -bench . ./...
bench:
	$(GO) run ./kernels/internal/benchtable -threads 1
	$(GO) run ./kernels/internal/benchtable -threads 2

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

generate:
	$(GO) generate ./kernels/...
