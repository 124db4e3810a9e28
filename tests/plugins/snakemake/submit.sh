#!/usr/bin/env bash
# A stand-in for a cluster's submit command (cluster-generic executor): run the job
# script as a separate local process, in the background, and print its "job id".
"$@" >/dev/null 2>&1 &
echo "$!"
