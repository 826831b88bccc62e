# taskd: `make help` lists the targets. `make run` and `make test` are all a
# fresh machine needs: they install PostgreSQL's server binaries when
# missing (as root, from Debian's packages) and start their own cluster.

GO        ?= go
SQLC      := $(GO) tool sqlc
TESTFLAGS ?=

# The Go 1.26.8 on these machines has known vulnerabilities in net/http and
# crypto (govulncheck reports them as reachable); 1.26.10 fixes them. The
# go command fetches that toolchain through the module proxy once.
export GOTOOLCHAIN := go1.26.10

# A pinned snapshot of the Go vulnerability database, fetched as a module
# through the module proxy (govulncheck's own download site is not
# reachable here). Bump it to learn of newer vulnerabilities.
VULNDB := v0.0.0-20261105234957-e22db6528018

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: postgres
postgres: ## make sure PostgreSQL's server binaries (initdb, pg_ctl) are installed
	@internal/pglocal/ensure-postgres.sh

.PHONY: browser
browser: ## make sure Chromium is installed, for the browser test of /docs
	@api/docs/ensure-chromium.sh

.PHONY: run
run: postgres build ## serve the API on :8080 (a local PostgreSQL under ./.data unless DATABASE_URL is set)
	./bin/taskd serve

.PHONY: test
test: postgres browser ## run every test, with the race detector, against a real PostgreSQL the tests start (or TEST_DATABASE_URL)
	TASKD_REQUIRE_BROWSER=1 $(GO) test -race -count=1 -parallel 8 $(TESTFLAGS) ./...

# Fuzz budgets are execution counts (about 10 s each here), not durations:
# with a duration, Go 1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" at the deadline (go.dev/issue/75804, fixed
# in Go 1.27). FUZZSCALE multiplies them for a longer run.
FUZZSCALE ?= 1
FUZZFLAGS := -run '^$$' -fuzzminimizetime 200x

.PHONY: fuzz
fuzz: postgres ## run each fuzz target for a fixed number of executions (FUZZSCALE=10 for ten times more); seeds in testdata/fuzz
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzNormalize$$' -fuzztime $$((100000 * $(FUZZSCALE)))x ./internal/tagname
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzDecode$$' -fuzztime $$((500000 * $(FUZZSCALE)))x ./internal/cursor
	$(GO) test $(FUZZFLAGS) -fuzz '^FuzzRequests$$' -fuzztime $$((10000 * $(FUZZSCALE)))x -parallel 2 ./api

.PHONY: sdk-test
sdk-test: postgres ## generate the TypeScript client from openapi.yaml and run its smoke program against a real taskd serve
	internal/sdk/ts/run.sh

.PHONY: bench
bench: postgres ## load-test a real taskd on a fresh PostgreSQL (BENCHFLAGS=-duration 10s -concurrency 32 ...)
	$(GO) run ./cmd/taskbench $(BENCHFLAGS)

.PHONY: vuln
vuln: ## govulncheck against the pinned vulnerability database snapshot
	$(GO) mod download golang.org/x/vulndb@$(VULNDB)
	$(GO) tool govulncheck -db "file://$$($(GO) env GOMODCACHE)/golang.org/x/vulndb@$(VULNDB)/data/osv" ./...

.PHONY: build
build: ## build bin/taskd
	$(GO) build -ldflags "-X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o bin/taskd ./cmd/taskd

.PHONY: generate
generate: postgres ## regenerate db/*.sql.go, db/schema.sql, openapi.yaml and the Go client
	$(SQLC) generate
	$(GO) run ./internal/schemadump db/schema.sql
	$(GO) run ./cmd/taskd openapi > openapi.yaml
	$(GO) run ./cmd/taskd openapi --3.0 > internal/client/openapi-3.0.yaml
	$(GO) tool oapi-codegen -config internal/client/oapi-codegen.yaml internal/client/openapi-3.0.yaml

.PHONY: verify
verify: generate vuln ## fail when a generated file is stale, sqlc finds a problem, or code reaches a known vulnerability
	$(SQLC) diff
	$(SQLC) vet
	@git diff --exit-code -- db openapi.yaml internal/client || { echo "generated files are stale: run 'make generate' and commit the result" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- db openapi.yaml internal/client)" || { echo "untracked generated files: run 'make generate' and commit the result" >&2; git status --porcelain -- db openapi.yaml internal/client >&2; exit 1; }

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "run gofmt -w on the files above" >&2; exit 1; }
	$(GO) vet ./...
