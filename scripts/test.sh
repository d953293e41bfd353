#!/usr/bin/env bash
# The test command: installs what is needed, builds, then runs every test (unit, integration
# against a real etcd and real network namespaces that the tests start and remove themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run --silent typecheck
node scripts/run-tests.mjs all
