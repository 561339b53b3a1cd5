#!/usr/bin/env bash
# Runs a command against a deployed stack's model registry from CI:
#   examples/ci/with-registry.sh <stack> <command> [args...]
# The kubeconfig, the tracking server's address and the models bucket come from the stack's outputs; the tracking
# server is reached through a port-forward with the client credentials of its `mlflow-client` Secret, and audit
# events go to the models bucket (`MLOPS_AUDIT_LOG`). Needs pulumi (logged in), kubectl and the cloud's
# credentials of the deploy identity (cluster admin) in the environment.
set -euo pipefail

stack=$1
shift
workdir=$(mktemp -d)
forward=""
cleanup() {
  if [ -n "$forward" ]; then kill "$forward" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

pulumi stack output kubeconfig --stack "$stack" --show-secrets >"$workdir/kubeconfig"
export KUBECONFIG="$workdir/kubeconfig"
url=$(pulumi stack output mlflowUrl --stack "$stack") # http://<service>.<namespace>.svc.cluster.local:<port>
host=${url#http://}
service=${host%%.*}
namespace=${host#*.}
namespace=${namespace%%.*}
port=${url##*:}
cloud=$(pulumi stack output cloud --stack "$stack")
models=$(pulumi stack output bucketNames --stack "$stack" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["models"])')

kubectl --namespace "$namespace" port-forward "service/$service" "15000:$port" >"$workdir/port-forward.log" 2>&1 &
forward=$!
for _ in $(seq 60); do
  if (exec 3<>/dev/tcp/127.0.0.1/15000) 2>/dev/null; then break; fi
  sleep 1
done

secret() {
  kubectl --namespace "$namespace" get secret mlflow-client --output "jsonpath={.data.$1}" | base64 --decode
}
MLFLOW_TRACKING_USERNAME=$(secret username)
MLFLOW_TRACKING_PASSWORD=$(secret password)
export MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD
export MLOPS_TRACKING_URI=http://127.0.0.1:15000
if [ "$cloud" = aws ]; then scheme=s3; else scheme=gs; fi
export MLOPS_AUDIT_LOG="$scheme://$models/audit"

"$@"
