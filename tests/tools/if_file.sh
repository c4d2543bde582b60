#!/usr/bin/env bash
# if_file.sh FILE COMMAND...: runs COMMAND when FILE exists, else exits 77, which ctest reports as "skipped"
# (SKIP_RETURN_CODE). For models too large to commit that a committed script regenerates
# (e.g. examples/code_gpt_large/train.py): CI does not train them, a developer who did gets the test.
file="$1"
shift
if [ ! -e "$file" ]; then
  echo "skipped: $file is not there (regenerate it with the script named in its folder's PROVENANCE.md)"
  exit 77
fi
exec "$@"
