# The two set-up commands of the README: `make app` and `make test`. Each installs what is missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: app test bench ui-bench load-test results chromium proxy vendor-plotly clean

$(VENV)/.app: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	touch $@

$(VENV)/.test: $(VENV)/.app
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	touch $@

app: $(VENV)/.app  ## start the lab on http://localhost:$(PORT)
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: $(VENV)/.test chromium proxy  ## the whole test suite: unit, figures, app, browser
	$(PY) -m pytest

# Browser tests drive Debian's Chromium (Playwright cannot download a browser here).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium is missing: install it (apt-get install chromium) or the browser tests will be skipped"; fi; }

# The proxy test (tests/browser/test_proxy.py) runs Debian's HAProxy in front of several replicas.
proxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; \
	  else echo "haproxy is missing: install it (apt-get install haproxy) or the proxy test will be skipped"; fi; }

bench: $(VENV)/.app  ## training throughput against the reference loop
	$(PY) -m dropviz bench

results: $(VENV)/.app  ## the README's table of measured results
	$(PY) -m dropviz results

ui-bench: $(VENV)/.test chromium  ## page timings from a real browser
	$(PY) -m tests.browser.ui_bench

load-test: $(VENV)/.test  ## many concurrent viewers against a local server: one setting, ten settings, sixty settings
	$(PY) -m tests.load.load_test --scenario all

# The charts' plotly.js: our partial bundle (tools/plotly-bundle), built from npm's plotly.js, the version the plotly package ships.
VENDOR := dropviz/ui/live_chart_frontend/vendor
vendor-plotly:  ## rebuild the vendored plotly.js bundle from npm (tools/plotly-bundle; needs node and npm)
	tmp=$$(mktemp -d) && cp tools/plotly-bundle/* $$tmp/ && cd $$tmp \
	  && npm install -q --no-audit --no-fund --ignore-scripts >/dev/null \
	  && node build.mjs $(CURDIR)/$(VENDOR)/plotly-dropviz.min.js \
	  && cp node_modules/plotly.js/LICENSE $(CURDIR)/$(VENDOR)/ && rm -rf $$tmp

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
