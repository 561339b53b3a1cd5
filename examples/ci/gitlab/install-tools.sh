#!/usr/bin/env bash
# Installs what the preview and deploy jobs run besides the project's .venv, on the python:3.11-bookworm image:
# the Pulumi CLI, kubectl, and the credential helper the stack's kubeconfig calls (AWS CLI v2 for
# `aws eks get-token`, or gcloud with gke-gcloud-auth-plugin).
#   examples/ci/gitlab/install-tools.sh <aws|gcp>
set -euo pipefail

cloud=${1:?usage: install-tools.sh <aws|gcp>}
: "${PULUMI_VERSION:?set PULUMI_VERSION}"
: "${KUBECTL_VERSION:?set KUBECTL_VERSION}"

apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates curl gnupg unzip >/dev/null
curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION" --install-root /opt/pulumi --no-edit-path
ln -sf /opt/pulumi/bin/pulumi /usr/local/bin/pulumi
curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/v${KUBECTL_VERSION}/bin/linux/amd64/kubectl"
chmod +x /usr/local/bin/kubectl

case "$cloud" in
aws)
  curl -fsSLo /tmp/awscliv2.zip https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip
  unzip -q -d /tmp /tmp/awscliv2.zip
  /tmp/aws/install
  ;;
gcp)
  curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | gpg --dearmor -o /usr/share/keyrings/cloud.google.gpg
  echo "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt cloud-sdk main" \
    >/etc/apt/sources.list.d/google-cloud-sdk.list
  apt-get update -qq
  apt-get install -y -qq google-cloud-cli google-cloud-cli-gke-gcloud-auth-plugin >/dev/null
  ;;
*)
  echo "unknown cloud $cloud: use aws or gcp" >&2
  exit 2
  ;;
esac
