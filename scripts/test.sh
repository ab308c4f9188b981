#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it:
#   - symgrad with its test extra (pytest, hypothesis, ruff, mypy);
#   - TeX Live from Debian's packages when pdflatex or Beamer is missing (the notes and the slides
#     are compiled for real; Beamer is in texlive-latex-recommended, its TikZ in texlive-pictures);
#   - gcc and clang from Debian's packages when missing (generated C is compiled for real);
#   - bubblewrap and libseccomp from Debian's packages when missing (symgrad check runs the code
#     it checks, and the C compiler, in bubblewrap with a seccomp allowlist);
#   - KaTeX from npm into .tools/ (the Markdown math is rendered for real);
#   - then the quality gates (ruff, mypy) and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

sudo_cmd=""
if [ "$(id -u)" != "0" ]; then sudo_cmd="sudo"; fi
if ! command -v pdflatex >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1 \
  || ! kpsewhich beamer.cls >/dev/null 2>&1; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    texlive-latex-base texlive-latex-recommended texlive-pictures lmodern poppler-utils >/dev/null
fi

# The C target's tests compile every generated file with gcc and clang (and gcc's sanitizers).
if ! command -v gcc >/dev/null 2>&1 || ! command -v clang >/dev/null 2>&1; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    gcc libc6-dev clang >/dev/null
fi

# symgrad check sandboxes everything that touches a checked file with bubblewrap; its filter
# is compiled by libseccomp (libseccomp2 is on every Debian with apt, named here all the same).
if ! command -v bwrap >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -q libseccomp.so.2; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    bubblewrap libseccomp2 >/dev/null
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
