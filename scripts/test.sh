#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it:
#   - symgrad with its test extra (pytest, hypothesis, ruff, mypy);
#   - TeX Live from Debian's packages when pdflatex or Beamer is missing (the notes and the slides
#     are compiled for real; Beamer is in texlive-latex-recommended, its TikZ in texlive-pictures);
#   - gcc, clang, OpenBLAS, the Arm cross-compiler with newlib and QEMU for Arm from Debian's
#     packages when missing (generated C is compiled for real, linked with a BLAS, and run on a
#     Cortex-M4 under QEMU);
#   - bubblewrap and libseccomp from Debian's packages when missing (symgrad check runs the code
#     it checks, and the C compiler, in bubblewrap with a seccomp allowlist);
#   - KaTeX from npm into .tools/ (the Markdown math is rendered for real);
#   - Chromium, a headless JRE and a math font from Debian's packages, axe-core and the Nu HTML
#     Checker from npm into tests/browser/ (the web page is opened in a real browser);
#   - then the quality gates (ruff, mypy) and pytest, one worker per core. Extra arguments go to
#     pytest.
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

# The C target's tests compile every generated file with gcc and clang (and gcc's sanitizers),
# link --blas files with OpenBLAS, and cross-build a training program for a Cortex-M4 (with
# newlib) that they run under QEMU.
c_packages=(gcc libc6-dev clang libopenblas-dev gcc-arm-none-eabi libnewlib-arm-none-eabi
  qemu-system-arm)
missing=()
for package in "${c_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
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

# The web page's tests open it in Debian's Chromium (driven by Playwright for Python, which is
# pointed at it: never a browser Playwright downloads), with Latin Modern Math (fonts-lmodern:
# a font with an OpenType MATH table), check it with the Nu HTML Checker on a headless JRE and
# with axe-core, both from npm in tests/browser (pinned by its lock file).
html_packages=(chromium default-jre-headless fonts-lmodern)
missing=()
for package in "${html_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
if [ ! -f tests/browser/node_modules/axe-core/package.json ] \
  || [ ! -f tests/browser/node_modules/vnu-jar/package.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi

python3 -m ruff check symgrad tests bench examples
python3 -m ruff format --check symgrad tests bench examples
python3 -m mypy symgrad
# One worker per core; a test file stays on one worker, so the compiles and browser sessions that
# a file's tests share are made once.
python3 -m pytest -n auto --dist loadfile "$@"
