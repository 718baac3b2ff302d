#!/usr/bin/env bash
# Throwaway TLS material for a development or test NATS cluster (deploy/compose.yaml and
# tests/integration/test_deploy.py). NOT for production: there, certificates come from the
# organisation's own CA, with the real host names, and private keys never leave the host.
#
#   deploy/tls/make-dev-certs.sh [OUTDIR] [EXTRA_SAN ...]
#
# Writes into OUTDIR (default: the directory of this script):
#   ca.pem, ca-key.pem       a new CA (valid 30 days)
#   nats.pem, nats-key.pem   one certificate for every node: DNS nats, nats-1, nats-2, nats-3,
#                            localhost and IP 127.0.0.1 (plus EXTRA_SAN, e.g. DNS:nats.example),
#                            usable as server and as client certificate (routes use mutual TLS)
# The paths match deploy/nats/server.conf when OUTDIR is mounted at /etc/dutywatch/tls.
set -euo pipefail

out=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
shift || true
mkdir -p "$out"
cd "$out"

san="DNS:nats,DNS:nats-1,DNS:nats-2,DNS:nats-3,DNS:localhost,IP:127.0.0.1"
for extra in "$@"; do
    san="$san,$extra"
done

umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/O=dutywatch dev/CN=dutywatch dev CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=dutywatch dev/CN=nats" \
    -keyout nats-key.pem -out nats.csr 2>/dev/null

cat > nats.ext <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san
EXT
openssl x509 -req -in nats.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
    -extfile nats.ext -out nats.pem 2>/dev/null
rm -f nats.csr nats.ext ca.srl

# The CA certificate and the node certificate are public; the keys stay private, but must be
# readable by the container's nats-server user when mounted into a container.
chmod 0644 ca.pem nats.pem
chmod 0640 nats-key.pem
echo "wrote $out/{ca.pem,ca-key.pem,nats.pem,nats-key.pem} (SAN $san)"
