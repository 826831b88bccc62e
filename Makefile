# taskd: `make help` lists the targets. `make run` and `make test` are all a
# fresh machine needs: they install PostgreSQL's server binaries when
# missing (as root, from Debian's packages) and start their own cluster.

GO       ?= go
SQLC     := $(GO) tool sqlc
TESTFLAGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: postgres
postgres: ## make sure PostgreSQL's server binaries (initdb, pg_ctl) are installed
	@internal/pglocal/ensure-postgres.sh

.PHONY: run
run: postgres ## serve the API on :8080 (a local PostgreSQL under ./.data unless DATABASE_URL is set)
	$(GO) run ./cmd/taskd serve

.PHONY: test
test: postgres ## run every test against a real PostgreSQL the tests start (or TEST_DATABASE_URL)
	$(GO) test -count=1 -parallel 8 $(TESTFLAGS) ./...

.PHONY: build
build: ## build bin/taskd
	$(GO) build -o bin/taskd ./cmd/taskd

.PHONY: generate
generate: postgres ## regenerate db/*.sql.go, db/schema.sql and openapi.yaml
	$(SQLC) generate
	$(GO) run ./internal/schemadump db/schema.sql
	$(GO) run ./cmd/taskd openapi > openapi.yaml

.PHONY: verify
verify: generate ## fail when a generated file is stale or sqlc finds a problem
	$(SQLC) diff
	$(SQLC) vet
	@git diff --exit-code -- db openapi.yaml || { echo "generated files are stale: run 'make generate' and commit the result" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- db openapi.yaml)" || { echo "untracked generated files: run 'make generate' and commit the result" >&2; git status --porcelain -- db openapi.yaml >&2; exit 1; }

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "run gofmt -w on the files above" >&2; exit 1; }
	$(GO) vet ./...
