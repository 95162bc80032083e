# Sourced by the scripts: puts the project's tools on PATH and fixes the Leptos
# output name so plain `cargo` and `cargo leptos` share one build cache.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export PATH="$ROOT/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export LEPTOS_OUTPUT_NAME="${LEPTOS_OUTPUT_NAME:-gatehouse}"
