#!/usr/bin/env bash
# Fuzz the wire decoder (csrc/decode.c) with libFuzzer + ASan + UBSan.
#
#   bash fuzz/run.sh                    # 100,000 inputs
#   bash fuzz/run.sh -runs=1000000      # any libFuzzer flags
#   bash fuzz/run.sh -max_total_time=600
#   bash fuzz/run.sh fuzz/build/artifacts/crash-...   # replay one input
#
# Installs what it needs (clang + libFuzzer through apt-get when run as
# root on Debian/Ubuntu; a venv with pytest for the seed corpus), builds
# fuzz/build/fuzz_decode -- fuzz_decode.c + csrc/*.c, all compiled with
# -fsanitize=fuzzer,address,undefined, linked against libpython -- writes
# the seed corpus from real frames (make_corpus.py) and runs the fuzzer.
# New interesting inputs go to fuzz/build/corpus, crashes to
# fuzz/build/artifacts.  Exit status: libFuzzer's (0 = no finding).
#
# Environment: PYTHON (default python3) picks the CPython to embed;
# CC (default clang) the compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$root/fuzz/build
mkdir -p "$build/corpus" "$build/artifacts"

PYTHON=${PYTHON:-python3}
CC=${CC:-clang}

# --- a clang that can link libFuzzer --------------------------------------
have_libfuzzer() {
    command -v "$CC" >/dev/null 2>&1 || return 1
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)'\
'{(void)d;(void)n;return 0;}\n' > "$build/probe.c"
    "$CC" -fsanitize=fuzzer,address,undefined "$build/probe.c" \
        -o "$build/probe" >/dev/null 2>&1
}
if ! have_libfuzzer; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing clang and libFuzzer (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q clang >/dev/null
        CC=clang
        if ! have_libfuzzer; then
            v=$(clang -dumpversion | cut -d. -f1)
            apt-get install -y -q "libclang-rt-$v-dev" >/dev/null ||
                apt-get install -y -q "libclang-common-$v-dev" >/dev/null
        fi
    fi
    have_libfuzzer || {
        echo "fuzz/run.sh: need clang with libFuzzer (-fsanitize=fuzzer);" \
             "install clang and libclang-rt-dev, or set CC" >&2
        exit 2
    }
fi

# --- the CPython to embed ----------------------------------------------------
eval "$("$PYTHON" - <<'EOF'
import sys, sysconfig
v = sysconfig.get_config_var
print(f"py_include={v('INCLUDEPY')!r}")
print(f"py_libdir={v('LIBDIR')!r}")
print(f"py_libpl={v('LIBPL')!r}")
print(f"py_ldversion={v('LDVERSION')!r}")
print(f"py_shared={v('Py_ENABLE_SHARED') or 0}")
print(f"py_syslibs={(v('LIBS') or '') + ' ' + (v('SYSLIBS') or '')!r}")
print(f"py_base={sys.base_prefix!r}")
EOF
)"
if [ "$py_shared" = 1 ]; then
    py_link=(-L"$py_libdir" -Wl,-rpath,"$py_libdir" -lpython"$py_ldversion")
else
    # static libpython (e.g. some python.org builds): link the archive and
    # export its symbols for extension modules of the stdlib
    py_link=(-L"$py_libpl" -lpython"$py_ldversion" -Wl,--export-dynamic)
fi
# shellcheck disable=SC2206
py_link+=($py_syslibs)

# --- build --------------------------------------------------------------------
bin=$build/fuzz_decode
if [ ! -x "$bin" ] || [ -n "$(find csrc fuzz/fuzz_decode.c -newer "$bin" -print -quit)" ]; then
    echo "== building $bin"
    "$CC" -g -O1 -std=c99 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -UNDEBUG -Wall -Wextra -Wno-missing-field-initializers \
        -I"$py_include" \
        fuzz/fuzz_decode.c csrc/*.c \
        "${py_link[@]}" -o "$bin"
fi

# --- seed corpus from real frames -----------------------------------------
seeds=$build/seeds
if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ] ||
   [ -n "$(find csrc/encode.c csrc/wire.h fuzz/make_corpus.py -newer "$seeds" -print -quit)" ]; then
    venv=$build/venv
    if [ ! -x "$venv/bin/python" ]; then
        echo "== creating $venv (pytest + xdist_c, for the seed corpus)"
        "$PYTHON" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --upgrade pip
    fi
    # (re)install the checkout so the corpus uses this codec
    "$venv/bin/python" -m pip install -q "$root"
    rm -rf "$seeds"
    mkdir -p "$seeds"
    (cd "$build" && "$venv/bin/python" "$root/fuzz/make_corpus.py" "$seeds")
fi

# --- run ------------------------------------------------------------------------
args=()
inputs_given=0
runs_given=0
for a in "$@"; do
    case $a in
        -runs=*|-max_total_time=*) runs_given=1 ;;
        -*) ;;
        *) inputs_given=1 ;;
    esac
done
if [ "$inputs_given" = 0 ]; then
    [ "$runs_given" = 1 ] || args+=(-runs=100000)
    args+=(-max_len=4096 -timeout=10 -rss_limit_mb=2048
           -dict="$root/fuzz/decode.dict"
           -artifact_prefix="$build/artifacts/"
           -print_final_stats=1)
fi
# Python's own allocations are not freed at exit: no leak report;
# reference leaks are checked by the target and testing/test_leaks.py.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export XC_FUZZ_PYTHONHOME=${XC_FUZZ_PYTHONHOME:-$py_base}
echo "== $bin ${args[*]} $*"
start=$(date +%s)
set +e
if [ "$inputs_given" = 0 ]; then
    "$bin" "${args[@]}" "$@" "$build/corpus" "$seeds"
else
    "$bin" "$@"
fi
rc=$?
set -e
echo "== fuzz_decode exited $rc after $(( $(date +%s) - start )) s"
exit $rc
