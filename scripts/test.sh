#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it:
#   - symgrad with its test extra (pytest, hypothesis, ruff, mypy);
#   - TeX Live from Debian's packages when pdflatex is missing (the notes are compiled for real);
#   - a C compiler when cc is missing (the sandbox tests of symgrad check build a library);
#   - KaTeX from npm into .tools/ (the Markdown math is rendered for real);
#   - then the quality gates (ruff, mypy) and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

sudo_cmd=""
if [ "$(id -u)" != "0" ]; then sudo_cmd="sudo"; fi
if ! command -v pdflatex >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    texlive-latex-base texlive-latex-recommended texlive-pictures lmodern poppler-utils >/dev/null
fi

# A C compiler: the sandbox tests of symgrad check build a small shared library.
if ! command -v cc >/dev/null 2>&1; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi

if [ ! -f .tools/node_modules/katex/package.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  sh scripts/install-katex.sh
fi

python3 -m ruff check symgrad tests bench examples
python3 -m ruff format --check symgrad tests bench examples
python3 -m mypy symgrad
python3 -m pytest "$@"
