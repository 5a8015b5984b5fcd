# ecoresp — the two commands for a newcomer:  make demo  (the example)  and  make test.
# Both install what they need first (Debian packages, the .venv) through `make setup`.
SHELL := /bin/bash
PY := .venv/bin/python
QP := .ci/qgis_process.sh
OUT ?= demo_output
export QT_QPA_PLATFORM := offscreen
PLUGIN_FILES := metadata.txt __init__.py LICENSE provider algorithms ecoresp_core models docs example

.PHONY: setup test test-all test-core lint demo bench zip clean test-trixie test-sid demo-trixie demo-sid \
	compare-trixie compare-sid

setup: .venv/.setup-done

.venv/.setup-done: .ci/setup .ci/debian-packages
	bash .ci/setup
	touch $@

# pytest-xdist: WORKERS processes, each with its own QgsApplication and QGIS profile (WORKERS=0: one);
# a module goes to one worker, so that its module fixtures (a FLUXNET fit, ...) are computed once
WORKERS ?= 2
PYTEST := XDG_RUNTIME_DIR=$$(mktemp -d) $(PY) -m pytest -c tests/pytest.ini -n $(WORKERS) --dist loadscope
## test: the fast suite, every algorithm and core module on small inputs (core, QGIS Processing,
## qgis_process, packaging); the tests marked slow (full FLUXNET site-years, large fits, chains of
## qgis_process runs) are left to make test-all
test: setup
	$(PYTEST) -m "not slow" tests

## test-all: the whole suite (CI): make test, then the tests marked slow
test-all: test
	$(PYTEST) -m slow tests

## test-core: only the QGIS-free core
test-core: setup
	$(PY) -m pytest -c tests/pytest.ini -p no:pytest_qgis tests/core

## lint: ruff (ruff.toml)
lint: setup
	$(PY) -m ruff check .

## docs: the user and methods guide shipped in the plugin, docs/html/ from docs/*.md (commit the result;
## a test fails when docs/html/ is stale)
.PHONY: docs
docs: setup
	$(PY) docs/build_docs.py

## demo: the main job on the bundled example data, through qgis_process
demo: setup
	bash tests/demo/run_demo.sh $(OUT)

## test-trixie / test-sid: the same suite against QGIS 3.40 LTR (Debian 13) / QGIS 3.44 (sid), in a
## Debian root built once with debootstrap (~3-12 min, 2.3 GB, kept in /var/cache/ecoresp/roots; needs root)
test-trixie test-sid: test-%:
	bash .ci/root.sh run $* make test-all
demo-trixie demo-sid: demo-%:
	bash .ci/root.sh run $* make demo OUT=/tmp/demo_output
## compare-trixie / compare-sid: trend, fit + predict, partition through qgis_process here and in the
## root; prints how far the numbers of the two QGIS installations differ and fails beyond the
## tolerances of tests/crossversion/compare.py (sid: scikit-learn 1.9 grows slightly other trees)
XV := /tmp/ecoresp-crossversion
compare-trixie compare-sid: compare-%: setup
	rm -rf $(XV) && mkdir -p $(XV)
	bash tests/crossversion/jobs.sh $(XV)/host
	bash .ci/root.sh run $* bash -c 'rm -rf /tmp/xv-$* && make setup >/dev/null && bash tests/crossversion/jobs.sh /tmp/xv-$*'
	$(PY) tests/crossversion/compare.py $(XV)/host $${ECORESP_ROOTS:-/var/cache/ecoresp/roots}/$*/tmp/xv-$* \
	  $(if $(filter sid,$*),--model-tolerance 1e-2)

## bench: speed, as ratios against peers measured in the same run
bench: setup
	$(PY) -m pip install -q --disable-pip-version-check -c .venv/constraints.txt "hesseflux==5.0" \
	  || echo "hesseflux could not be installed: the partitioning bench runs without its peer"
	$(PY) -m pip install -q --disable-pip-version-check -c .venv/constraints.txt "xarrayMannKendall==1.4.5" \
	  || echo "xarrayMannKendall could not be installed: the cluster trend bench runs without its peer"
	$(PY) tests/bench/run_bench.py $(BENCH_ARGS)

## zip: a plugins.qgis.org-valid archive in dist/
zip:
	rm -rf dist && mkdir -p dist
	git archive --format=zip --prefix=ecoresp/ -o dist/ecoresp.zip HEAD \
	  $$(for p in $(PLUGIN_FILES); do git cat-file -e HEAD:$$p 2>/dev/null && echo $$p; done)
	@echo "dist/ecoresp.zip"

## screenshots: PNGs from the real QGIS desktop under Xvfb (fresh profile, plugin enabled): the toolbox,
## the partition and trend dialogs, a trend run from its dialog and its loaded result, into SHOTS
## (ECORESP_ZIP=dist/ecoresp.zip: the plugin installed from the zip of make zip; stops after TIMEOUT s)
SHOTS ?= screenshots
.PHONY: screenshots
screenshots: setup
	bash tests/screenshots/take.sh $(SHOTS)

clean:
	rm -rf dist $(OUT) .pytest_cache
