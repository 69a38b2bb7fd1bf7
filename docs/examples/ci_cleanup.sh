# A CI step: delete DEAD executions older than a week, keep report.json as an artifact.
# CI shells run with -e: catch the exit code, or a failed run would end the script here.
code=0
aicore-bulk delete executions --status DEAD --older-than 7d --no-progress \
    --output json > report.json || code=$?
echo "aicore-bulk exited $code"
if [ -s report.json ]; then  # empty when nothing ran (exit 2: bad settings)
  jq '.summary.outcomes' report.json
  jq -c '.items[] | select(.outcome == "failed" or .outcome == "skipped" or .outcome == "unknown")' report.json
fi
exit "$code"
