#!/usr/bin/env bash
# The deployment and alerting files (Dockerfile, Compose, Cloud Run, Kubernetes, systemd,
# Prometheus rules, Grafana): every check that can run without Docker or a cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/check-deploy.sh
