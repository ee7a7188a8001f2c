# Two entry points: `make demo` and `make test`. Both build .venv from scratch when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The tests' real engine (torch's CPU build and `transformers serve`): `make test` only.
ENGINE_STAMP := $(VENV)/.installed-engine

.PHONY: demo test lint typecheck unit venv engine clean ssh-tools prometheus-tools browser-tools

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

engine: $(ENGINE_STAMP)

$(ENGINE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,engine]'
	touch $(ENGINE_STAMP)

demo: $(STAMP)
	$(BIN)/throne demo

lint: $(STAMP)
	$(BIN)/ruff check throne tests bench scripts/pg-cluster
	$(BIN)/ruff format --check throne tests bench scripts/pg-cluster

typecheck: $(STAMP)
	$(BIN)/mypy

# The SSH host's tests run a real sshd on loopback: Debian's openssh-server, installed once.
ssh-tools:
	@test -x /usr/sbin/sshd && command -v ssh >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   apt-get install -y -qq openssh-server openssh-client >/dev/null)

# The operators' dashboard tests check deploy/prometheus.yml and the Grafana dashboard's queries
# with promtool: Debian's prometheus package, installed once.
prometheus-tools:
	@command -v promtool >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

# The dashboard's browser tests drive a real headless Chromium: Debian's, installed once.
browser-tools:
	@test -x /usr/bin/chromium || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   apt-get install -y -qq chromium >/dev/null)

# pytest runs beside a throwaway PostgreSQL cluster (scripts/pg-cluster), removed afterwards.
unit: $(ENGINE_STAMP) ssh-tools prometheus-tools browser-tools
	scripts/pg-cluster -- $(BIN)/pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
