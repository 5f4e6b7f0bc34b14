# HTTP API behind JWTs (Auth0 or any OIDC issuer) -- see README.md.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV         ?= .venv
# checkov pins a boto3 that aws-sam-cli cannot live with: it gets its own environment.
CHECKOV_VENV ?= .venv-checkov
PY           := $(VENV)/bin/python
SAM          ?= $(VENV)/bin/sam
export SAM_CLI_TELEMETRY ?= 0

# The stack and region `sam deploy --guided` saved in samconfig.toml; STACK=/REGION= override.
SAMCONFIG    ?= samconfig.toml
CONFIG_PY    := $(or $(wildcard $(PY)),python3)
STACK        ?= $(or $(shell $(CONFIG_PY) -m devkit.deploy.samconfig stack_name --config $(SAMCONFIG) 2>/dev/null),http-api-jwt-auth)
REGION       ?= $(shell $(CONFIG_PY) -m devkit.deploy.samconfig region --config $(SAMCONFIG) 2>/dev/null)

# Deploy without prompts: ISSUER and AUDIENCE (comma-separated) select it. PARAMS holds other
# template parameters as sam deploy --parameter-overrides takes them (Name=Value, quoted values
# allowed), for make deploy and make local alike. Empty here on purpose: nothing is assumed.
ISSUER       ?=
AUDIENCE     ?=
PARAMS       ?=
export ISSUER AUDIENCE PARAMS

# The local loop: dev issuer and local API ports, and what `make token` mints.
API_PORT     ?= 3000
# What the dev issuer signs with (make local ALG=ES256); make token follows the running issuer.
ALG          ?= RS256
ISSUER_PORT  ?= 3001
SCOPES       ?= read:test
# What make mcp's client asks its issuer for (the MCP route's RequiredScope, if it has one).
MCP_SCOPE    ?=
MCP_URL      ?=
# ISSUERS=2: a second dev issuer for the Lambda authorizer's several-issuer mode; ISSUER_INDEX=2
# mints from it. PERMISSIONS, ORG_ID and GTY add the claims Auth0 RBAC / Organizations use.
ISSUERS      ?= 1
ISSUER_INDEX ?= 1
DEV_AUDIENCE := https://api.example.com
TOKEN_AUDIENCE = $(or $(AUDIENCE),$(DEV_AUDIENCE))
# Your own issuer in the local loop: make local ISSUER=... AUDIENCE=..., and make token ISSUER=...
# AUDIENCE=... as the client OIDC_CLIENT_ID/OIDC_CLIENT_SECRET (environment or .env). How the
# token request names the API: audience (Auth0), resource (RFC 8707) or none (the issuer decides).
AUDIENCE_PARAM ?= audience
# A real issuer gets only the scopes asked for (an unknown one is an error there): SCOPES given.
GIVEN_SCOPES  = $(if $(filter file default undefined,$(origin SCOPES)),,$(SCOPES))

# sam local runs the functions on the host's own CPU (a copy of the template built into
# .aws-sam/local), so an x86_64 laptop does not emulate arm64; make build/deploy stay arm64.
LOCAL_ARCH   ?= $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
LOCAL_BUILD  := .aws-sam/local/build
# Containers started by sam local reach the dev issuer on the host (Docker Desktop knows the
# name already; Linux engines need the mapping). The issuer also listens on docker0 for them.
DOCKER_HOST_FLAGS := --add-host host.docker.internal:host-gateway
DOCKER_BRIDGE_IP  ?= $(shell ip -4 -o addr show docker0 2>/dev/null | awk '{print $$4}' | cut -d/ -f1)
# Extra flags for sam build / sam local; empty for you. This repository's CI machine has no
# registry access and sets them in .ci/run.
SAM_BUILD_FLAGS ?=
SAM_LOCAL_FLAGS ?=
export SAM SAM_BUILD_FLAGS

INVOKE = $(PY) -m devkit.deploy.invoke -- $(SAM) local invoke -t $(LOCAL_BUILD)/template.yaml \
	--env-vars events/env.json $(DOCKER_HOST_FLAGS) $(SAM_LOCAL_FLAGS)

# Auth0 settings for `make auth0-token` and `make smoke` come from the environment or a git-ignored .env.
-include .env
export AUTH0_DOMAIN AUTH0_CLIENT_ID AUTH0_CLIENT_SECRET AUTH0_AUDIENCE AUTH0_LIMITED_CLIENT_ID AUTH0_LIMITED_CLIENT_SECRET
export OIDC_CLIENT_ID OIDC_CLIENT_SECRET

.PHONY: help
help: # (the default goal: what `make` alone prints)
	@printf '%s\n' 'Start here:' \
	  '  make install   the development environment (.venv): about 460 MB and a minute or two' \
	  '  make local     the API and a dev issuer on 127.0.0.1, no AWS, Auth0 or Docker; then make -s token' \
	  '  make test      lint and every test; the first run also builds .venv-checkov (about 290 MB)' \
	  '  make deploy    to your AWS account (README.md, Deploy); your own routes: docs/your-api.md'
	@# Each "# ---- title" line of this file heads the targets under it.
	@awk 'BEGIN {FS = ":.*## "} /^# -+ / {sub(/^# -+ /, ""); printf "\n%s:\n", $$0} \
	  /^[a-zA-Z0-9_-]+:.*## / {printf "  %s%-28s%s %s\n", on, $$1, off, $$2}' \
	  on="$$([ -t 1 ] && printf '\033[36m')" off="$$([ -t 1 ] && printf '\033[0m')" $(MAKEFILE_LIST)

# ---------------------------------------------------------------- set up, test

$(VENV)/.installed: requirements-dev.txt src/authorizer/requirements.txt pyproject.toml
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: make install needs Python 3.11 or newer as python3 (found $$(python3 -V 2>&1))" >&2; exit 1; }
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	@# The project itself, editable: the tools, tests and lint rules import its packages by name.
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

.PHONY: install
install: $(VENV)/.installed ## Create .venv with the pinned development requirements

.PHONY: test
test: lint ## Lint, then every test (Docker-backed ones skip with a reason when no engine is running)
	$(PY) -m pytest

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

.PHONY: lint
lint: install $(CHECKOV_VENV)/.installed ## cfn-lint (+ our rules), checkov, sam validate, ruff, mypy, actionlint, parliament
	$(VENV)/bin/cfn-lint template.yaml --append-rules lint/rules
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	AWS_DEFAULT_REGION=$(or $(REGION),us-east-1) $(SAM) validate --lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint -shellcheck= .github/workflows/*.yml
	$(VENV)/bin/parliament < docs/deploy-role-policy.json

.PHONY: docs
docs: install ## Rewrite the tables in docs/ that come from the code (reasons, ...)
	$(PY) -m devkit.docs

.PHONY: format
format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# ---------------------------------------------------------------- build and deploy
.PHONY: build
build: install ## sam build: in the Lambda build image if Docker/Finch runs, else with a local python3.13
	$(PY) -m devkit.deploy.build

.PHONY: deploy
deploy: install ## Deploy: guided the first time; ISSUER=... AUDIENCE=... [PARAMS=...] never prompts (CI)
	@$(PY) -m devkit.deploy --config $(SAMCONFIG) \
	  $(if $(ISSUER),--issuer "$$ISSUER" --audience "$$AUDIENCE") --parameters "$$PARAMS" \
	  $(if $(filter command line environment,$(origin STACK)),--stack-name "$(STACK)") \
	  $(if $(filter command line environment,$(origin REGION)),--region "$(REGION)")

.PHONY: delete
delete: install ## Delete the deployed stack (samconfig.toml's, or STACK=/REGION=); "nothing deployed" if none
	@$(PY) -m devkit.deploy.delete --stack-name "$(STACK)" $(if $(REGION),--region "$(REGION)")

.PHONY: smoke
smoke: install ## Check the deployed stack with a real Auth0 token (AUTH0_* from env or .env; CI fails without)
	@STACK_NAME="$(STACK)" $(if $(REGION),AWS_REGION="$(REGION)") $(PY) -m devkit.deploy.smoke

.PHONY: auth0-token
auth0-token: install ## Print an Auth0 access token (client credentials; AUTH0_* from env or .env)
	@$(PY) -m devkit.local auth0-token

# ---------------------------------------------------------------- local loop, no Docker
.PHONY: local
local: install ## Local API + dev issuer, no AWS/Auth0/Docker (PARAMS="RequiredScope=..." ISSUERS=2 ALG=ES256); or ISSUER=... AUDIENCE=...
	@$(PY) -m devkit.local serve --api-port "$(API_PORT)" --issuer-port "$(ISSUER_PORT)" \
	  --issuer "$$ISSUER" --audience "$$AUDIENCE" $(foreach a,$(DOCKER_BRIDGE_IP),--issuer-also-on $(a)) \
	  --issuers "$(ISSUERS)" --algorithm "$(ALG)" --parameters "$$PARAMS"

.PHONY: token
token: install ## Print a fresh token: dev issuer (SCOPES= AUDIENCE= VARIANT= ... ISSUER_INDEX=), or ISSUER=... AUDIENCE=... (OIDC_CLIENT_*)
	@$(PY) -m devkit.local $(if $(ISSUER),oidc-token --issuer "$$ISSUER" --audience-param "$(AUDIENCE_PARAM)" \
	  --scope "$(GIVEN_SCOPES)",token --issuer-port "$(ISSUER_PORT)" --issuer-index "$(ISSUER_INDEX)" --scope "$(SCOPES)") \
	  --audience "$$AUDIENCE" --variant "$(VARIANT)" --permissions "$(PERMISSIONS)" --org-id "$(ORG_ID)" --gty "$(GTY)"

.PHONY: mcp
mcp: install ## Call /mcp's whoami with the official MCP client: 401, metadata, token, call (make local's; or MCP_URL=... ISSUER=...)
	@$(PY) -m devkit.local mcp --url "$(or $(MCP_URL),http://127.0.0.1:$(API_PORT)/mcp)" \
	  --issuer "$(or $(ISSUER),http://127.0.0.1:$(ISSUER_PORT)/)" $(if $(ISSUER),--real-issuer) --scope "$(MCP_SCOPE)"

# ---------------------------------------------------------------- SAM CLI with Docker
.PHONY: build-local
build-local: install ## sam build for sam local on this machine's CPU (LOCAL_ARCH), into .aws-sam/local
	$(PY) -m devkit.deploy.build --local-arch $(LOCAL_ARCH)

.PHONY: event-token
event-token: install ## Write events/local/authorizer-v2-valid.json with a fresh dev token (needs make local)
	@mkdir -p events/local
	@token=$$($(PY) -m devkit.local token --issuer http://127.0.0.1:$(ISSUER_PORT)/ --audience "$(TOKEN_AUDIENCE)" \
	  --scope "$(SCOPES)") && \
	  sed "s|__DEV_TOKEN__|$$token|g" events/authorizer-v2-valid.json > events/local/authorizer-v2-valid.json && \
	  echo "wrote events/local/authorizer-v2-valid.json"

.PHONY: invoke-authorizer-valid
invoke-authorizer-valid: build-local event-token ## sam local invoke: the authorizer with a fresh dev token (needs make local)
	$(INVOKE) AuthorizerFunction -e events/local/authorizer-v2-valid.json

.PHONY: invoke-authorizer-malformed
invoke-authorizer-malformed: build-local ## sam local invoke: the authorizer with a malformed token
	$(INVOKE) AuthorizerFunction -e events/authorizer-v2-malformed.json

.PHONY: invoke-authorizer-missing
invoke-authorizer-missing: build-local ## sam local invoke: the authorizer with no Authorization header
	$(INVOKE) AuthorizerFunction -e events/authorizer-v2-missing-header.json

.PHONY: invoke-test-jwt invoke-test-lambda invoke-test-health
invoke-test-jwt: build-local ## sam local invoke: the test route as the JWT authorizer calls it
	$(INVOKE) TestRouteFunction -e events/test-route-jwt.json
invoke-test-lambda: build-local ## sam local invoke: the test route as the Lambda authorizer calls it
	$(INVOKE) TestRouteFunction -e events/test-route-lambda.json
invoke-test-health: build-local ## sam local invoke: the public health route
	$(INVOKE) TestRouteFunction -e events/test-route-health.json

.PHONY: start-api
start-api: build-local ## sam local start-api on API_PORT (JWT routes are NOT checked by SAM CLI: use make local)
	$(SAM) local start-api -t $(LOCAL_BUILD)/template.yaml --port $(API_PORT) \
	  --env-vars events/env.json $(DOCKER_HOST_FLAGS) $(SAM_LOCAL_FLAGS)

# ---------------------------------------------------------------- measure
# The bench's peer (Powertools) and Lambda's runtime log formatter, with the authorizer's own pins:
# an environment of their own, so neither ever reaches .venv or a function's requirements.
.venv-bench/.installed: requirements-bench.txt src/authorizer/requirements.txt src/mcp_server/requirements.txt pyproject.toml
	python3 -m venv .venv-bench
	.venv-bench/bin/pip install --quiet --upgrade pip
	.venv-bench/bin/pip install --quiet -r requirements-bench.txt
	# The project, editable, for the warm child's `python -m devkit.bench...`; it runs in the
	# function's code directory, which gives it `app` and jwt_authorizer as Lambda's /var/task does.
	# Compat mode is a plain path line: the default's import hook would import pathlib (and re)
	# at every interpreter start, and so into every cold-start process the bench times.
	.venv-bench/bin/pip install --quiet --no-deps --config-settings editable_mode=compat -e .
	touch $@

.PHONY: bench
bench: install .venv-bench/.installed ## Benchmark vs floors and Powertools: warm, cold start, gateway, packages (BENCH_ARGS=--profile)
	$(PY) -m devkit.bench --bench-python .venv-bench/bin/python $(BENCH_ARGS)

# ---------------------------------------------------------------- maintenance
.PHONY: lock
lock: ## Re-pin requirements-dev.txt from requirements-dev.in (after changing a top-level pin)
	rm -rf .venv-lock && python3 -m venv .venv-lock && .venv-lock/bin/pip install --quiet -r requirements-dev.in
	{ echo '# Generated by `make lock` from requirements-dev.in: the full pinned development tree.'; \
	  .venv-lock/bin/pip freeze; } > requirements-dev.txt && rm -rf .venv-lock

.PHONY: lock-checkov
lock-checkov: ## Re-pin requirements-checkov.txt (after changing the checkov version in it)
	rm -rf .venv-lock && python3 -m venv .venv-lock && \
	  .venv-lock/bin/pip install --quiet "$$(grep -i '^checkov==' requirements-checkov.txt)"
	{ sed -n '1,2p' requirements-checkov.txt; .venv-lock/bin/pip freeze; } > requirements-checkov.txt.new && \
	  mv requirements-checkov.txt.new requirements-checkov.txt && rm -rf .venv-lock
