# Sourced by the GitLab preview and deploy jobs, never run:
#   source examples/ci/gitlab/cloud-login.sh <stack> <deploy|preview>
# Exchanges the job's ID token (AWS_ID_TOKEN or GCP_ID_TOKEN, from the job's id_tokens) for the stack's CI identity
# named in the CI/CD variable CI_IDENTITIES (a JSON object: stack -> that stack's `ciDeployer` output). No key is
# stored anywhere: the AWS SDKs assume the role with the token file, Google's libraries and gcloud exchange it
# through the workload identity provider and impersonate the service account.
# shellcheck shell=bash

ci_stack=${1:?usage: source cloud-login.sh <stack> <deploy|preview>}
ci_purpose=${2:?usage: source cloud-login.sh <stack> <deploy|preview>}

ci_identity() {
  python3 -c 'import json, os, sys; print(json.loads(os.environ["CI_IDENTITIES"])[sys.argv[1]].get(sys.argv[2]) or "")' \
    "$ci_stack" "$1"
}

ci_tokens=$(mktemp -d)
if [ -n "$(ci_identity deployRoleArn)" ]; then
  printf '%s' "${AWS_ID_TOKEN:?the job needs id_tokens: AWS_ID_TOKEN}" >"$ci_tokens/aws"
  AWS_ROLE_ARN=$(ci_identity "${ci_purpose}RoleArn")
  AWS_REGION=$(ci_identity region)
  AWS_WEB_IDENTITY_TOKEN_FILE="$ci_tokens/aws"
  AWS_ROLE_SESSION_NAME="gitlab-${CI_JOB_ID:-local}"
  export AWS_ROLE_ARN AWS_REGION AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_SESSION_NAME
else
  printf '%s' "${GCP_ID_TOKEN:?the job needs id_tokens: GCP_ID_TOKEN}" >"$ci_tokens/gcp"
  python3 - "$(ci_identity workloadIdentityProvider)" "$(ci_identity "${ci_purpose}ServiceAccount")" "$ci_tokens" <<'PY'
import json
import sys

provider, account, tokens = sys.argv[1:]
config = {
    "type": "external_account",
    "audience": f"//iam.googleapis.com/{provider}",
    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    "token_url": "https://sts.googleapis.com/v1/token",
    "credential_source": {"file": f"{tokens}/gcp"},
    "service_account_impersonation_url": (
        f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{account}:generateAccessToken"
    ),
}
with open(f"{tokens}/credentials.json", "w") as out:
    json.dump(config, out)
PY
  GOOGLE_APPLICATION_CREDENTIALS="$ci_tokens/credentials.json"
  CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE="$ci_tokens/credentials.json"
  export GOOGLE_APPLICATION_CREDENTIALS CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE
fi
