# faultline — build, test, demo, bench, lint.
GO       ?= go
BIN      := bin/faultline
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X github.com/faultline-io/faultline/harness.Version=$(VERSION) \
            -X github.com/faultline-io/faultline/harness.GitRevision=$(REVISION)
DEMO_FLAGS ?= --target raft --workload register --nodes 3 --time-limit 30s --seed 1

.PHONY: build etcd test stress-test demo bench bench-detect bench-sim interrupt-storm fuzz lint clean

# The node binary is the same static file, so it runs in FROM scratch images.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/faultline

# The etcd server of the etcd target, a static build of the release pinned in
# etcdserver/go.mod (its own module: faultline itself never depends on it).
# Built once into $FAULTLINE_CACHE or ~/.cache/faultline/etcd-<version>
# (a minute or two, downloading the modules the first time), then copied to
# bin/etcd; etcdbin.Ensure, which the target calls, builds it on first use
# too. Without Go, point FAULTLINE_ETCD at a static etcd binary instead.
etcd:
	$(GO) run ./internal/etcdbuild -o bin/etcd

# Unit and integration tests. Tests that need Docker or root skip with a reason
# when those are missing; CI runs as root with Docker.
test: build
	$(GO) vet ./...
	FAULTLINE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 30m ./...

# The suite STRESS_RUNS times beside 2 busy CPU processes, printing the pass
# count; STRESS_PKGS (e.g. ./targets/raft/) runs `go test -count=1` of those
# packages instead of `make test`.
STRESS_RUNS ?= 20
STRESS_PKGS ?=
stress-test: build
	FAULTLINE_BIN=$(CURDIR)/$(BIN) scripts/stress-test -n $(STRESS_RUNS) $(if $(STRESS_PKGS),-- $(STRESS_PKGS))

# A real run against the bundled Raft KV: Docker when the daemon answers, else
# network namespaces when root, else local processes.
demo: build
	@if docker info >/dev/null 2>&1; then \
	  echo "demo: Docker runtime, partitions, kills and pauses"; \
	  $(BIN) run --runtime docker --nemesis partition,kill,pause $(DEMO_FLAGS); \
	else \
	  echo "demo: Docker not reachable; local runtime with kills and pauses"; \
	  $(BIN) run --runtime local --nemesis kill,pause $(DEMO_FLAGS); \
	fi

bench: build
	FAULTLINE_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -benchtime 3x -timeout 30m ./history/ ./checker/ ./report/ ./targets/... ./nemesis/... ./docker/ ./cluster/

# Detection benchmark: every seeded bug of the bundled targets (Raft, CRDT)
# under its paired nemeses, and the correct builds under those nemeses (and,
# for Raft, under every single nemesis): false alarms. 10 seeds of 60 s:
# 440 runs, about 2 h with 4 at a time on 2 cores. Finished runs in
# bench-store are reused; see docs/detection.md.
# e.g. make bench-detect BENCH_DETECT_FLAGS='-parallel 1 -seeds 5 -cases no-fsync'
#      make bench-detect BENCH_DETECT_FLAGS='-parallel 2 -cases crdt'   # the CRDT rows only
BENCH_DETECT_FLAGS ?= -parallel 4
bench-detect: build
	$(GO) run ./internal/benchdetect -bin $(BIN) $(BENCH_DETECT_FLAGS)

# Simulator benchmark: every seeded bug of every target that runs under the
# simulator, under its paired nemeses and scenarios, and the correct builds
# under those and under every simulated nemesis (false alarms); 100 seeds of
# 60 s virtual time each, in process, no Docker or root needed. Writes the
# table to docs/simulation-table.md; see docs/simulation.md. -results keeps
# each run's result so that an interrupted benchmark resumes.
# e.g. make bench-sim BENCH_SIM_FLAGS='-seeds 5 -cases raft'
BENCH_SIM_FLAGS ?= -parallel 2
bench-sim:
	$(GO) run ./internal/benchsim -out docs/simulation-table.md $(BENCH_SIM_FLAGS)

# Interrupt storm (root and Docker; about 8 min): SIGINT 20 runs at seeded
# random moments in every phase, alternating docker and netns, and check each
# exits 2 with results.json saying "interrupted" and where, a history that
# 'faultline check' reads, and nothing left; then SIGKILL the harness during a
# partition and an NFQUEUE delay and check the delayed links fail open, the
# history parses and 'faultline clean --run' removes the rest.
# e.g. make interrupt-storm INTERRUPT_STORM_FLAGS='-runs 40 -seed 7 -sigkill=false'
INTERRUPT_STORM_FLAGS ?=
interrupt-storm: build
	$(GO) run ./internal/interruptstorm -bin $(BIN) $(INTERRUPT_STORM_FLAGS)

# Every fuzz target (func FuzzX in a _test.go file) for FUZZTIME each, one
# after another; fails if any finds a failure, which Go writes to
# <pkg>/testdata/fuzz/FuzzX/ (commit it with the fix). Plain 'go test' runs
# the seed corpora. FUZZMINIMIZE bounds the time spent shrinking each new
# input, so that the fuzzing time goes to fuzzing.
FUZZTIME     ?= 60s
FUZZMINIMIZE ?= 10s
fuzz: build
	@failed=""; \
	for t in $$(grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' . | grep -v '^\./bin/' | sed 's|^\./\(.*\)/[^/]*:func |\1:|' | sort); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== fuzz $$name (./$$pkg) for $(FUZZTIME)"; \
	  FAULTLINE_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) \
	    -fuzzminimizetime $(FUZZMINIMIZE) ./$$pkg/ || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi; echo "fuzz: every target passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
