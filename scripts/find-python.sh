#!/bin/sh
# The Python that `make` builds .venv with. MXNet 1.9.1 needs numpy < 1.24, which installs on
# Python 3.8 to 3.11 only (no wheel for 3.12 and later, and it does not build there).
#   sh scripts/find-python.sh            prints the interpreter's command, or one line and status 1
#   sh scripts/find-python.sh --check PY  status 0 if the interpreter PY fits
# The choice: $PYTHON if given; python3 when it fits; else the newest python3.11, python3.10 or
# python3.9 on the PATH; else a Python 3.11 managed by uv (on the PATH, or `pip install --user uv`).
VERSIONS="3.8 3.9 3.10 3.11"

version() { "$@" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
fits() { case " $VERSIONS " in *" $(version "$@") "*) return 0 ;; esac; return 1; }

if [ "$1" = "--check" ]; then
  fits "$2"
  exit
fi
if [ -n "$PYTHON" ]; then
  fits "$PYTHON" && { echo "$PYTHON"; exit 0; }
  echo "make: PYTHON=$PYTHON is Python $(version "$PYTHON" || echo '(not found)'); draw-gluon needs Python 3.8 to 3.11" >&2
  exit 1
fi
for name in python3 python3.11 python3.10 python3.9; do
  found=$(command -v "$name") && fits "$found" && { echo "$found"; exit 0; }
done
uv=$(command -v uv) || { python3 -m pip install --quiet --user uv >/dev/null 2>&1 && uv="python3 -m uv"; }
if [ -n "$uv" ] && $uv python install 3.11 >&2 && found=$($uv python find 3.11) && fits "$found"; then
  echo "$found"
  exit 0
fi
echo "make: draw-gluon needs Python 3.8 to 3.11 (MXNet 1.9.1 needs numpy < 1.24) and python3 here is" \
  "$(version python3 || echo 'missing'); get one from the system's packages (e.g. apt install python3.11-venv)," \
  "from uv (pip install uv, then make again), or from conda (conda create -n draw python=3.11), and" \
  "make again, or name it: make PYTHON=/path/to/python3.11" >&2
exit 1
