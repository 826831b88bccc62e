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
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

# Generated files besides sqlc's (db/*.sql.go, db/models.go, db/db.go,
# which `sqlc diff` checks): each is made by the `generated` target below
# at its path under $(OUT). generate writes them in place; verify makes
# them in a temporary directory and compares, so that it never writes to
# the tree.
GENERATED := db/schema.sql openapi.yaml internal/client/openapi-3.0.yaml internal/client/client.gen.go
OUT ?= .

.PHONY: generate
generate: postgres ## regenerate db/*.sql.go, db/schema.sql, openapi.yaml and the Go client
	$(SQLC) generate
	@$(MAKE) --no-print-directory generated OUT=.

.PHONY: generated
generated:
	@mkdir -p $(OUT)/db $(OUT)/internal/client
	$(GO) run ./cmd/schemadump $(OUT)/db/schema.sql
	$(GO) run ./cmd/taskd openapi > $(OUT)/openapi.yaml
	$(GO) run ./cmd/taskd openapi --3.0 > $(OUT)/internal/client/openapi-3.0.yaml
	@# oapi-codegen writes where its config's output: says (its -o gives way
	@# to that): the config is passed on with output: under $(OUT).
	@set -e; cfg=$$(mktemp); trap 'rm -f "$$cfg"' EXIT; \
	sed 's|^output: internal/client/client.gen.go$$|output: $(OUT)/internal/client/client.gen.go|' internal/client/oapi-codegen.yaml > "$$cfg"; \
	grep -qx 'output: $(OUT)/internal/client/client.gen.go' "$$cfg" || { echo "internal/client/oapi-codegen.yaml: expected output: internal/client/client.gen.go" >&2; exit 1; }; \
	echo "$(GO) tool oapi-codegen -config internal/client/oapi-codegen.yaml (output: $(OUT)/internal/client/client.gen.go) $(OUT)/internal/client/openapi-3.0.yaml"; \
	$(GO) tool oapi-codegen -config "$$cfg" $(OUT)/internal/client/openapi-3.0.yaml

.PHONY: verify
verify: check-generated sqlc-vet vuln ## fail when a generated file is stale, a query breaks a rule of sqlc.yaml, or code reaches a known vulnerability

# sqlc diff first: the Go code that everything after it compiles must be
# what sql/ and db/migrations give. A db/*.sql.go whose sql/*.sql is gone
# is stale too (sqlc diff only looks at what sqlc would write).
.PHONY: check-generated
check-generated: postgres ## fail when a generated file differs from what its sources give (writes nothing)
	$(SQLC) diff || { echo "db/ is stale against sql/ and db/migrations: run 'make generate' and commit the result" >&2; exit 1; }
	@for f in db/*.sql.go; do q=sql/$$(basename "$$f" .go); test -f "$$q" || { echo "$$f: no $$q generates it: delete it" >&2; exit 1; }; done
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory generated OUT="$$tmp"; \
	stale=; for f in $(GENERATED); do diff -u "$$f" "$$tmp/$$f" || stale="$$stale $$f"; done; \
	test -z "$$stale" || { echo "stale:$$stale: run 'make generate' and commit the result" >&2; exit 1; }

# sqlc vet with sqlc.yaml's rules, against a throwaway PostgreSQL migrated
# with db/migrations whose URL cmd/withdb puts in SQLC_DATABASE_URL.
.PHONY: sqlc-vet
sqlc-vet: postgres ## sqlc vet: every query prepared on a migrated PostgreSQL, and sqlc.yaml's rules (tenancy, WHERE, paging)
	$(GO) run ./cmd/withdb -env SQLC_DATABASE_URL -- $(SQLC) vet

.PHONY: lint
# staticcheck (pinned in go.mod's tool block) runs every check, the
# optional style ones included, set here rather than in a staticcheck.conf
# (the top level holds only the product owner's files). Generated files
# (db/*.sql.go, internal/client/client.gen.go) need no exclusion of ours:
# staticcheck drops its style and simplification findings in files marked
# "Code generated ... DO NOT EDIT."; its checks for bugs still apply there.
lint: ## gofmt, go vet, staticcheck, and go.mod tidy
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "run gofmt -w on the files above" >&2; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck -checks all ./...
	$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run 'go mod tidy'" >&2; exit 1; }

# Scaling out (README "Scaling out"): one PostgreSQL, PgBouncer in
# transaction pooling mode, three taskd replicas and HAProxy checking
# their /readyz, under ./.data/cluster on fixed ports; PgBouncer and
# HAProxy come from Debian's packages, installed when missing (as root).
# The replicas take taskd serve's environment from make's (RATE_LIMIT=…).
CLUSTER_DIR ?= .data/cluster

.PHONY: cluster-tools
cluster-tools: postgres ## make sure PgBouncer and HAProxy are installed (as root, from Debian's packages)
	@internal/cluster/ensure-tools.sh

.PHONY: cluster
cluster: cluster-tools build ## start PostgreSQL, PgBouncer, three taskd replicas and HAProxy under ./.data/cluster (API on 127.0.0.1:18080)
	$(GO) run ./cmd/taskcluster up -dir $(CLUSTER_DIR) -taskd bin/taskd

.PHONY: cluster-stop
cluster-stop: ## stop what make cluster started (each replica drains; PostgreSQL shuts down cleanly)
	$(GO) run ./cmd/taskcluster down -dir $(CLUSTER_DIR)

.PHONY: scale-test
scale-test: cluster-tools ## the cluster's own test: migrations raced, a rolling restart under load, revocation, streams and webhooks across replicas (about 35 s)
	TASKD_SCALE_TEST=1 $(GO) test -count=1 -v -timeout 10m -run '^TestScale$$' ./internal/cluster
