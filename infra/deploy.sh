#!/usr/bin/env bash
# Deploy the MICRO stack (`make deploy`, after `make lambda`): `sam deploy` of
# infra/template.yaml, which uploads build/lambda.zip and creates or updates the bucket,
# the render function and the CloudFront distribution. The first deploy (no SAM_CONFIG
# file yet) is guided: sam asks to confirm each setting and saves the answers.
#
# Settings: infra/config, each overridden by an environment variable of the same name.
# DRY_RUN=1 prints the commands and runs none.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="${MICRO_DEPLOY_CONFIG:-$ROOT/infra/config}"

# KEY=value lines; a variable already in the environment wins.
while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line#"${line%%[![:space:]]*}"}"
    [[ -z "$line" || "$line" == \#* ]] && continue
    key="${line%%=*}"
    value="${line#*=}"
    if [[ "$key" == "$line" || ! "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        echo "deploy: error: $CONFIG: expected KEY=value, got: $line" >&2
        exit 2
    fi
    if [[ -z "${!key+set}" ]]; then
        printf -v "$key" '%s' "$value"
    fi
done < "$CONFIG"

for key in STACK_NAME AWS_REGION LAMBDA_MEMORY_MB LAMBDA_TIMEOUT_S RENDER_TIMEOUT_S \
           RESERVED_CONCURRENCY RENDER_EXPIRATION_DAYS PRICE_CLASS LOG_RETENTION_DAYS \
           WAF_RATE_LIMIT MONTHLY_BUDGET_USD MAX_RAW_SIZE_PX \
           SAM_CONFIG; do
    if [[ -z "${!key:-}" ]]; then
        echo "deploy: error: $key is not set (infra/config or the environment)" >&2
        exit 2
    fi
done

DRY_RUN="${DRY_RUN:-0}"
[[ "$DRY_RUN" == "0" ]] && DRY_RUN=""

run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [[ -z "$DRY_RUN" ]]; then
        "$@"
    fi
}

[[ "$SAM_CONFIG" == /* ]] || SAM_CONFIG="$ROOT/$SAM_CONFIG"
ZIP="$ROOT/build/lambda.zip"
if [[ ! -f "$ZIP" ]]; then
    if [[ -z "$DRY_RUN" ]]; then
        echo "deploy: error: $ZIP not found: run \`make lambda\` first" >&2
        exit 2
    fi
    echo "deploy: note: $ZIP not built yet (make lambda)" >&2
fi
if [[ -z "$DRY_RUN" ]] && ! command -v sam >/dev/null; then
    echo "deploy: error: sam not found: install the AWS SAM CLI" >&2
    exit 2
fi

args=(
    --template-file "$ROOT/infra/template.yaml"
    --config-file "$SAM_CONFIG"
    --stack-name "$STACK_NAME"
    --region "$AWS_REGION"
    --capabilities CAPABILITY_IAM
    --resolve-s3
    --tags project=micro
    --parameter-overrides
    "MemorySize=$LAMBDA_MEMORY_MB"
    "Timeout=$LAMBDA_TIMEOUT_S"
    "RenderTimeout=$RENDER_TIMEOUT_S"
    "ReservedConcurrency=$RESERVED_CONCURRENCY"
    "RenderExpirationDays=$RENDER_EXPIRATION_DAYS"
    "AllowedOrigins=\"${ALLOWED_ORIGINS:-}\""
    "PriceClass=$PRICE_CLASS"
    "LogRetentionDays=$LOG_RETENTION_DAYS"
    "WafRateLimit=$WAF_RATE_LIMIT"
    "MonthlyBudgetUsd=$MONTHLY_BUDGET_USD"
    "BudgetEmail=\"${BUDGET_EMAIL:-}\""
    "MaxRawSizePx=$MAX_RAW_SIZE_PX"
    "SigningKeySecretArn=\"${SIGNING_KEY_SECRET_ARN:-}\""
)

if [[ -f "$SAM_CONFIG" ]]; then
    run sam deploy "${args[@]}" --no-confirm-changeset --no-fail-on-empty-changeset
else
    echo "deploy: first deploy of $STACK_NAME: guided (answers saved to $SAM_CONFIG)"
    run sam deploy --guided "${args[@]}"
fi

run aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$STACK_NAME" \
    --query "Stacks[0].Outputs" --output table
echo "deploy: next, \`make publish\` uploads the site (build/site) to the bucket."
