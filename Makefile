# taskhost — `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
TOOLS := $(BIN)/tools

# Code generation tools, fetched from the Go module proxy into bin/tools.
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

PLUGINS  := $(patsubst %/main.go,%,$(wildcard plugins/*/main.go))
EXAMPLES := $(patsubst %/main.go,%,$(wildcard examples/*/main.go))

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The npm packages: the Node SDK, and the TypeScript example that uses it.
NODE_DIRS := sdk/node examples/tsworker

.PHONY: node
node: ## npm ci (from the committed lock, offline once cached) and build the Node SDK and examples/tsworker
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		echo "make: node and npm are needed for sdk/node and examples/tsworker: install Node.js 20 or later" >&2; exit 1; \
	fi
	@for d in $(NODE_DIRS); do \
		if [ ! -f $$d/node_modules/.package-lock.json ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
			echo "npm ci in $$d"; (cd $$d && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) || exit 1; \
		fi; \
		echo "build $$d"; (cd $$d && npm run --silent build) || exit 1; \
	done
	@chmod -R go-w examples/tsworker/dist examples/tsworker/workers # the host refuses scripts others may write

.PHONY: build
build: node ## build the host into bin/, every plugin and example into bin/plugins/, and the Node SDK and TypeScript example
	@mkdir -p $(BIN)/plugins
	@if [ -d host/cmd/taskhost ]; then $(GO) build -buildvcs=auto -o $(BIN)/taskhost ./host/cmd/taskhost; fi # taskhost version shows the commit
	@for d in $(PLUGINS) $(EXAMPLES); do \
		echo "build $$d"; $(GO) build -o $(BIN)/plugins/$$(basename $$d) ./$$d || exit 1; \
	done
	@chmod go-w $(BIN)/plugins/* # the host refuses plugins others may write

# The config make run serves: make run CONFIG=path/to.hcl for another.
CONFIG ?= examples/taskhost.hcl

.PHONY: run
run: build ## build everything and start the host on 127.0.0.1:7474 with the example plugins (CONFIG=file for another config)
	$(BIN)/taskhost serve --config $(CONFIG)

# A throwaway PostgreSQL for cluster mode, from the system's own binaries
# (Debian: apt-get install postgresql): data in bin/pg, 127.0.0.1:PGPORT,
# trust auth. Run as root, it runs as the postgres user.
PGPORT ?= 55432
PGDATA := $(BIN)/pg

.PHONY: pg
pg: ## start a throwaway local PostgreSQL on 127.0.0.1:PGPORT (default 55432) and print its TASKHOST_DATABASE_URL
	@set -e; \
	initdb=$$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1); \
	if [ -z "$$initdb" ]; then echo "make pg: no initdb found: install PostgreSQL (apt-get install postgresql)" >&2; exit 1; fi; \
	bindir=$$(dirname "$$initdb"); as=; \
	mkdir -p $(PGDATA); \
	if [ "$$(id -u)" = 0 ]; then as="runuser -u postgres --"; chown postgres $(PGDATA); fi; \
	if [ ! -f $(PGDATA)/PG_VERSION ]; then $$as "$$bindir/initdb" -D $(PGDATA) -U postgres -A trust >/dev/null; fi; \
	if ! $$as "$$bindir/pg_ctl" -D $(PGDATA) status >/dev/null 2>&1; then \
		$$as "$$bindir/pg_ctl" -D $(PGDATA) -l $(PGDATA)/server.log -o "-h 127.0.0.1 -p $(PGPORT) -k $(PGDATA)" -w start >/dev/null; \
	fi; \
	echo "PostgreSQL runs in $(PGDATA) (make pg-stop stops it); use it with:"; \
	echo "export TASKHOST_DATABASE_URL='postgres://postgres@127.0.0.1:$(PGPORT)/postgres?sslmode=disable'"

.PHONY: pg-stop
pg-stop: ## stop the PostgreSQL of make pg and remove its data
	@set -e; \
	if [ -f $(PGDATA)/PG_VERSION ]; then \
		ctl=$$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1); as=; \
		if [ "$$(id -u)" = 0 ]; then as="runuser -u postgres --"; fi; \
		$$as "$$ctl" -D $(PGDATA) -m fast stop >/dev/null 2>&1 || true; \
	fi; \
	rm -rf $(PGDATA)

# The dashboard's browser tests (host/ui) drive Debian's Chromium; without
# it they skip, but not under CI.
CHROMIUM := /usr/bin/chromium

.PHONY: test
test: node ## run the whole test suite with the race detector (tests build the plugins they run; the dashboard's need /usr/bin/chromium), and the Node packages' node --test suites
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ -n "$$CI" ]; then echo "make test: $(CHROMIUM) is missing and CI is set: the dashboard's browser tests must run (apt-get install -y chromium)" >&2; exit 1; fi; \
		echo "!!! make test: SKIPPING the dashboard's browser tests: no $(CHROMIUM) (apt-get install -y chromium) !!!" >&2; \
	fi
	@for d in $(NODE_DIRS); do echo "npm test in $$d"; (cd $$d && npm test --silent) || exit 1; done
	@# Every go.mod of the module graph, which a build outside this module
	@# loads (TestE2EPluginInItsOwnModule builds one offline, from the cache):
	@# building this module downloads only what its packages need.
	$(GO) list -m all >/dev/null
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/host/ui$$')
	@# The browser tests alone, after the rest: Chromium's processes would
	@# starve the tests of the packages beside them on 2 cores.
	$(GO) test -race -count=1 -timeout 10m ./host/ui/

.PHONY: measure-ui
measure-ui: ## store a million tasks (kept in bin/ui-measure) and print each dashboard page's render time and its API calls' (needs chromium)
	TASKHOST_UI_MEASURE=1 TASKHOST_UI_MEASURE_DIR=$(BIN)/ui-measure $(GO) test -count=1 -v -timeout 60m -run TestMeasureRenderAtScale ./host/ui/ | grep -E 'measure_test|^(ok|FAIL|---)'

.PHONY: screenshots
screenshots: ## run the dashboard's browser tests and keep their screenshots in docs/ui (the README shows them)
	TASKHOST_UI_SCREENSHOTS=$(CURDIR)/docs/ui $(GO) test -count=1 -run 'TestBrowser' ./host/ui/

.PHONY: test-faults
test-faults: ## the long fault suite: the host SIGKILLed in 20 rounds over 200 tasks, every plugin failure mode (a few minutes)
	TASKHOST_FAULT_ROUNDS=20 TASKHOST_FAULT_TASKS=200 $(GO) test -race -count=1 -v -run 'Fault' -timeout 30m ./host/

# How long make soak loads the host: make soak SOAK=1m for a quick look.
SOAK ?= 10m

.PHONY: soak
soak: ## mixed load with crashes and timeouts for SOAK (default 10m); RSS, heap, goroutines and fds must stay flat
	$(GO) run ./host/cmd/tasksoak -duration $(SOAK) $(SOAKFLAGS)

.PHONY: bench
bench: ## run every scenario against a real host, beside its baselines, and print the table (~10 min, longer when a database answers; BENCHFLAGS adds flags)
	$(GO) run ./host/cmd/taskbench $(BENCHFLAGS)

.PHONY: bench-short
bench-short: ## a quick look at the same table (taskbench -short: ~1 min, ~3 when a database answers)
	$(GO) run ./host/cmd/taskbench -short $(BENCHFLAGS)

.PHONY: bench-go
bench-go: ## run the go test benchmarks of the worker pool
	$(GO) test -run '^$$' -bench . -benchtime 2s ./host/internal/pool/

# The fuzz targets, as package:Target; their seed corpora (f.Add and
# testdata/fuzz) run in make test like any test.
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	./host/api:FuzzCreateTask ./host/api:FuzzCreateBatch ./host/api:FuzzListQuery ./host/api:FuzzTaskID \
	./host/cmd/taskhost:FuzzLoadConfig \
	./host/store/badgerstore:FuzzDecodeKey ./host/store/badgerstore:FuzzDecodeRecord \
	./host/store/badgerstore:FuzzKeyRoundTrip ./host/store/badgerstore:FuzzTimeKeyOrder \
	./host/store/badgerstore:FuzzRecordRoundTrip

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s), one after another
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

.PHONY: lint
lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: tools
tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc

$(TOOLS)/buf:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

.PHONY: proto
proto: tools ## regenerate shared/proto from worker.proto
	$(TOOLS)/buf generate

.PHONY: verify
verify: proto ## regenerate code and fail if it differs from what is committed
	$(GO) mod tidy
	cd host/cmd/taskbench/riverpeer && $(GO) mod tidy # the River peer's own module requires this one
	git diff --exit-code -- shared/proto go.mod go.sum host/cmd/taskbench/riverpeer/go.mod host/cmd/taskbench/riverpeer/go.sum

.PHONY: tidy
tidy: ## go mod tidy, here and in the River peer's module
	$(GO) mod tidy
	cd host/cmd/taskbench/riverpeer && $(GO) mod tidy

.PHONY: clean
clean: ## remove bin/
	rm -rf $(BIN)
