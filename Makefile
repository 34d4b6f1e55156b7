# `make demo` trains a short DRAW run on real digits; `make test` runs the test suite.
# Both create .venv when it is missing and install draw-gluon into it with the numpy pin.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EXTRA ?= cpu

.PHONY: demo test install clean

$(VENV)/.installed: setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[$(EXTRA),test]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) train_mnist.py --dataset mnist5k --attention --num_train_samples 60000 --val_freq 20000 \
		--num_val_samples 500 --num_steps 16 --num_recurrent_units 128 --latent_dim 20 --read_size 5 \
		--learning_rate 3e-3

test: $(VENV)/.installed
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) *.egg-info
