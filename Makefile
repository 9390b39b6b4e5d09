# Custody — run `make help` for the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
MODULES   := pkg proto services/ingest services/scanner services/attestor services/ledger services/gate services/promoter services/custody
DATA      ?= $(CURDIR)/.data/dev
ADDR      ?= 127.0.0.1:8080
REG_ADDR  ?= 127.0.0.1:5000
export GOTOOLCHAIN := local

.PHONY: help build run test test-gowork-off e2e browser-e2e lint gen check-generated bench tools cosign scan-tools bench-scan bench-gate bench-audit debian-image fuzz clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}'

build: ## Build the custody command and every service binary into bin/ (`bin/custody serve NAME` runs the same service)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./services/custody/cmd/custody ./services/ingest/cmd/ingest ./services/scanner/cmd/scanner \
		./services/attestor/cmd/attestor ./services/ledger/cmd/ledger ./services/gate/cmd/gate ./services/promoter/cmd/promoter

run: build ## Start `custody dev` (state in .data/dev), run the demo against it, and keep it running
	@scripts/run-dev.sh "$(BIN)/custody" "$(DATA)" "$(ADDR)" "$(REG_ADDR)"

test: ## Unit and integration tests of every module (embedded NATS and SQLite unless CUSTODY_TEST_* are set)
	@set -e; for m in $(MODULES); do echo "--- go test $$m"; (cd $$m && $(GO) test -count=1 ./...); done

test-gowork-off: ## Build, vet and test every module on its own (GOWORK=off), as a consumer of one module would
	@set -e; for m in $(MODULES); do echo "--- GOWORK=off $$m"; (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./... && GOWORK=off $(GO) test -count=1 ./...); done

e2e: cosign browser-e2e ## End-to-end tests: the auditor pages in Chromium, then `custody dev` as a process, a registry, build → scan → attest → gate → promote
	cd services/custody && $(GO) test -count=1 -tags e2e -run 'E2E' -timeout 20m -v ./e2e/...

browser-e2e: ## The auditor pages in headless Chromium (/usr/bin/chromium) over a real ledger, screenshots in CUSTODY_E2E_SCREENSHOTS
	cd services/ledger && $(GO) test -count=1 -tags e2e -run 'E2E' -timeout 10m -v ./pages/browsertest/...

lint: ## gofmt, go mod tidy (no diff), go vet and staticcheck over every module
	@set -e; for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy -diff >/dev/null) || { echo "$$m: go.mod/go.sum are not tidy: run 'cd $$m && GOWORK=off go mod tidy'"; exit 1; }; done
	@set -e; out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
	@set -e; $(MAKE) --no-print-directory tools; for m in $(MODULES); do (cd $$m && $(BIN)/staticcheck -tags e2e ./...); done

tools: ## Build the pinned code generators and checkers (buf, protoc-gen-go, protoc-gen-connect-go, protoc-gen-doc, benchstat, staticcheck) into bin/
	@mkdir -p $(BIN)
	@cd scripts/tools && GOWORK=off $(GO) build -o $(BIN)/ github.com/bufbuild/buf/cmd/buf google.golang.org/protobuf/cmd/protoc-gen-go \
		connectrpc.com/connect/cmd/protoc-gen-connect-go github.com/pseudomuto/protoc-gen-doc/cmd/protoc-gen-doc \
		golang.org/x/perf/cmd/benchstat honnef.co/go/tools/cmd/staticcheck

cosign: ## Build the pinned cosign v2 and v3 (scripts/tools/cosign-v*) into bin/ for the interoperability e2e test
	@mkdir -p $(BIN)
	cd scripts/tools/cosign-v2 && GOWORK=off $(GO) build -o $(BIN)/cosign-v2 github.com/sigstore/cosign/v2/cmd/cosign
	cd scripts/tools/cosign-v3 && GOWORK=off $(GO) build -o $(BIN)/cosign-v3 github.com/sigstore/cosign/v3/cmd/cosign

scan-tools: ## Build the pinned syft CLI and crane (scripts/tools/syft, scripts/tools/crane) into bin/ for the scan comparison
	@mkdir -p $(BIN)
	cd scripts/tools/crane && GOWORK=off $(GO) build -o $(BIN)/crane github.com/google/go-containerregistry/cmd/crane
	cd scripts/tools/syft && GOWORK=off $(GO) build -ldflags "-X main.version=$$(GOWORK=off $(GO) list -m -f '{{.Version}}' github.com/anchore/syft)" \
		-o $(BIN)/syft github.com/anchore/syft/cmd/syft

bench-gate: tools cosign ## Promotion gate figures in one run: a decision vs its 3 verifications + lookup, decisions/s vs a cosign verify-attestation loop
	@scripts/bench-gate.sh

bench-audit: tools ## Auditors' query figures in one run on a generated ledger of 1M attestations (.data/bench-audit): provenance over HTTP vs the store, affected-by
	@scripts/bench-audit.sh

bench-scan: build scan-tools ## Scanning figures in one run: layer walk vs raw gunzip+tar, then custody scan vs syft on the Debian image (make debian-image first)
	cd pkg && $(GO) test -run '^$$' -bench 'BenchmarkLayerWalk$$' -benchtime 5x -count $${COUNT:-3} ./sbom
	scripts/bench-scan.sh -n $${RUNS:-5}

debian-image: scan-tools ## Build a Debian bookworm minbase image with debootstrap and push it to REGISTRY (default the dev registry)
	@scripts/debian-image.sh $(if $(FORCE),--force) $(or $(REGISTRY),$(REG_ADDR))/debian:bookworm-minbase

gen: tools ## Regenerate protobuf and Connect code (proto/) and the API reference (docs/api/) with buf
	cd proto && PATH="$(BIN):$$PATH" $(BIN)/buf lint && PATH="$(BIN):$$PATH" $(BIN)/buf generate
	cd proto && PATH="$(BIN):$$PATH" $(BIN)/buf generate --template buf.gen.doc.yaml --path custody/audit/v1

check-generated: gen ## Fail if generated code or the generated API reference is stale
	@git diff --exit-code -- proto docs/api || { echo "generated code is stale: run 'make gen' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- proto docs/api)" || { git status --porcelain -- proto docs/api; echo "generated files are not committed"; exit 1; }

bench: tools ## Benchmarks in one run: bus ceiling, scan cost, build events per second end to end (docs/benchmarks.md)
	@scripts/bench.sh

fuzz: ## Run each fuzz target for FUZZTIME (default 20s)
	@scripts/fuzz.sh $${FUZZTIME:-20s}

clean: ## Remove bin/ and .data/
	rm -rf $(BIN) .data
