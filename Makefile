# `make demo` trains a short DRAW run on real digits; `make test` runs the test suite.
# Both make .venv when it is missing (with a Python from 3.8 to 3.11: scripts/find-python.sh picks
# it, PYTHON=... names it) and install draw-gluon into it with the numpy pin. EXTRA=gpu installs
# the CUDA build of MXNet in place of the CPU one (EXTRA=cpu, the default, the other way round).
VENV := .venv
PY := $(VENV)/bin/python
EXTRA ?= cpu
REPLACED := $(if $(filter gpu,$(EXTRA)),mxnet,mxnet-cu112)

.PHONY: demo test install venv clean

venv:
	@if [ -x $(PY) ] && ! $(SHELL) scripts/find-python.sh --check $(PY); then \
		echo "make: $(VENV) was made by a Python MXNet 1.9.1 cannot use; making it anew"; rm -rf $(VENV); fi
	@test -x $(PY) || { base=$$($(SHELL) scripts/find-python.sh) && echo "make: creating $(VENV) with $$base" && \
		$$base -m venv $(VENV); }

# One stamp per EXTRA: switching it installs again.
$(VENV)/.installed-$(EXTRA): setup.py constraints.txt | venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip uninstall --quiet --yes $(REPLACED) 2>/dev/null
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRA),test]"
	rm -f $(VENV)/.installed*
	touch $@

install: $(VENV)/.installed-$(EXTRA)

demo: install
	$(PY) train_mnist.py --recipe demo

test: install
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) *.egg-info
