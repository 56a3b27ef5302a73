# The appliance's developer entry points. `make run` and `make test` work on a fresh
# Debian 12 machine with Python 3.11: they install what they need themselves.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export DEBIAN_FRONTEND := noninteractive

# Debian packages: to build and run (netifaces compiles), and what the tests talk to.
DEB_RUN := python3-venv python3-dev gcc
DEB_TEST := $(DEB_RUN) espeak-ng postgresql iproute2 curl sip-tester baresip-core snmpd snmp chromium tftp-hpa atftp kamailio \
	kamailio-tls-modules dnsmasq-base rtpengine-daemon sox

.PHONY: run test lint bench deps-run deps-test clean

# Ends with a banner (admin page URL, setup token) once the daemon is ready.
run: $(VENV)/.run-stamp
	$(BIN)/appliance init $(if $(CONFIG),--config $(CONFIG))
	exec $(BIN)/appliance run --banner $(if $(CONFIG),--config $(CONFIG))

test: deps-test $(VENV)/.test-stamp lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-stamp
	$(BIN)/ruff check appliance tests $(wildcard bench)
	$(BIN)/mypy

# Benchmarks (bench/_*.py are their helper scripts); some need root for network namespaces.
bench: $(VENV)/.test-stamp
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

deps-run:
	@$(MAKE) --no-print-directory _apt PKGS="$(DEB_RUN)"

# rtpengine-daemon enables its package's own service for the next boot (its config binds every
# interface, ng on 2223): the appliance runs an rtpengine of its own, so that one is disabled.
deps-test:
	@$(MAKE) --no-print-directory _apt PKGS="$(DEB_TEST)"
	@if command -v systemctl >/dev/null 2>&1 && { systemctl is-enabled --quiet rtpengine-daemon \
	    2>/dev/null || systemctl is-active --quiet rtpengine-daemon 2>/dev/null; }; then \
	  echo "disabling the rtpengine-daemon package's own service (the appliance runs its own)"; \
	  $(SUDO) systemctl disable --quiet rtpengine-daemon; \
	  $(SUDO) systemctl stop rtpengine-daemon 2>/dev/null || true; \
	fi

# Installs only the packages that are missing; apt-get update only when something is. Packaged
# services (kamailio, postgresql, rtpengine) are kept from starting while they install
# (policy-rc.d): the tests start their own, on their own ports.
_apt:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  rc=/usr/sbin/policy-rc.d; own=""; \
	  if [ ! -e $$rc ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee $$rc >/dev/null && $(SUDO) chmod 755 $$rc && own=1; \
	  fi; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing; \
	  status=$$?; if [ -n "$$own" ]; then $(SUDO) rm -f $$rc; fi; exit $$status; \
	fi

$(VENV)/.venv-stamp:
	@command -v dpkg >/dev/null 2>&1 && $(MAKE) --no-print-directory deps-run || true
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	touch $@

$(VENV)/.run-stamp: $(VENV)/.venv-stamp setup.cfg pyproject.toml
	$(BIN)/python -m pip install -q -e '.[postgres]'
	touch $@

$(VENV)/.test-stamp: $(VENV)/.venv-stamp setup.cfg pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.run-stamp

clean:
	rm -rf $(VENV) var build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
