#!/bin/sh
# The failure scenarios end to end, then the verifier: the same as `deno task demo`.
cd "$(dirname "$0")/.." && exec deno task demo "$@"
