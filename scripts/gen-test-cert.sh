#!/usr/bin/env bash
# Generates a self-signed certificate and key for serving the simulator over TLS
# (binance-sim --tls-cert CERT --tls-key KEY), valid for localhost, 127.0.0.1 and ::1.
# Usage: scripts/gen-test-cert.sh [OUT_DIR] [DAYS]   (default: Tests/BinanceSimulatorTests/Fixtures, 36500)
# Clients trust it by its file (e.g. WSClient: tlsConfiguration.trustRoots = .file(CERT), and
# sniHostname "localhost" when connecting to an IP literal).
set -euo pipefail
out=${1:-"$(dirname "$0")/../Tests/BinanceSimulatorTests/Fixtures"}
days=${2:-36500}
mkdir -p "$out"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -keyout "$out/sim-key.pem" -out "$out/sim-cert.pem" \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
echo "wrote $out/sim-cert.pem and $out/sim-key.pem (valid $days days)"
