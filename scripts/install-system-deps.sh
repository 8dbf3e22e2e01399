#!/usr/bin/env bash
# Debian packages the tests use: chromium (browser tests of the Datasette pages),
# LibreOffice Writer (renders the Word report to PDF, and numbers its contents), the Carlito
# font (metric-compatible with Calibri) and poppler-utils (pdftoppm).
# Installs only what is missing; needs root (as on CI) or passwordless sudo.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v soffice >/dev/null 2>&1 || need+=(libreoffice-writer-nogui)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
fc-list 2>/dev/null | grep -qi carlito || need+=(fonts-crosextra-carlito)  # Calibri's metrics: the report paginates as in Word
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "install-system-deps: cannot install ${need[*]} (not root); browser and rendering tests will be skipped" >&2
  exit 0
fi
echo "install-system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || $SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 \
  || echo "install-system-deps: apt-get install ${need[*]} failed; those tests will be skipped" >&2
exit 0
