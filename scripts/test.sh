#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine, then runs every test,
# rustfmt and clippy. .ci/run calls this same script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Clients we did not write, for the end-to-end tests: Python's smtplib (python3) and swaks.
need=()
command -v swaks >/dev/null || need+=(swaks)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# dkimpy (with PyNaCl for Ed25519): an independent DKIM implementation for interoperability tests.
if ! python3 -c "import dkim, nacl" 2>/dev/null; then
  echo "installing: dkimpy pynacl (PyPI)"
  python3 -m pip install -q --disable-pip-version-check dkimpy pynacl
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
