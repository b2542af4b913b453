#!/usr/bin/env bash
# ctest install_layout: `cmake --install <build> --prefix /usr/local` into a DESTDIR temp dir puts
# the binary, the systemd unit, the sysusers.d entry and the example configuration where
# docs/install.md says; the unit names the installed binary and the config dir; the sysusers.d
# entry makes the praetor user (in a scratch root); the examples are valid praetor configuration; an operator's own server.json is left alone; `systemd-analyze
# verify` accepts the unit (skipped, with a note, when systemd-analyze is missing). A second
# install with --prefix /opt/praetor rewrites the unit's ExecStart to that prefix.
#
#   bash packaging/install_layout_test.sh build/debug
#
# Environment (set by ctest from the CMake cache; defaults are the project's): PRAETOR_CONFIG_DIR
# (/etc/praetor.d), PRAETOR_SYSTEMD_UNIT_DIR (lib/systemd/system), PRAETOR_SYSUSERS_DIR
# (lib/sysusers.d), PRAETOR_BINDIR (bin).
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 <build dir>}" && pwd)
CONFIG_DIR=${PRAETOR_CONFIG_DIR:-/etc/praetor.d}
UNIT_DIR=${PRAETOR_SYSTEMD_UNIT_DIR:-lib/systemd/system}
SYSUSERS_DIR=${PRAETOR_SYSUSERS_DIR:-lib/sysusers.d}
BINDIR=${PRAETOR_BINDIR:-bin}

TMP=$(mktemp -d /tmp/praetor-install-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# under <destdir> <prefix> <dir>: where <dir> (relative to the prefix, or absolute) lands.
under() { if [[ $3 == /* ]]; then echo "$1$3"; else echo "$1$2/$3"; fi; }

install_to() { # install_to <destdir> <prefix>
  mkdir -p "$1"
  if ! DESTDIR=$1 cmake --install "$BUILD" --prefix "$2" >"$1.log" 2>&1; then
    cat "$1.log"
    echo "FAIL: cmake --install --prefix $2 failed"
    exit 1
  fi
}

# ---- 1. /usr/local, with an operator's own config already in place
D=$TMP/root
mkdir -p "$D$CONFIG_DIR"
echo '{"node_name": "operators-own"}' >"$D$CONFIG_DIR/server.json"
install_to "$D" /usr/local
echo "installed:"
(cd "$D" && find . -type f | sort | sed 's/^\./  /')

bin=$(under "$D" /usr/local "$BINDIR")/praetor
unit=$(under "$D" /usr/local "$UNIT_DIR")/praetor.service
sysusers=$(under "$D" /usr/local "$SYSUSERS_DIR")/praetor.conf
installed_bin=$(under "" /usr/local "$BINDIR")/praetor

if [[ -x $bin ]] && out=$("$bin" version 2>&1) && [[ $out == "Praetor v"* ]]; then
  pass "binary at ${bin#"$D"} runs: $(head -1 <<<"$out")"
else
  fail "no working binary at ${bin#"$D"}: ${out:-missing}"
fi

if [[ -f $unit ]]; then
  pass "unit at ${unit#"$D"}"
  exec_start=$(grep '^ExecStart=' "$unit" || true)
  want="ExecStart=$installed_bin agent -config-dir=$CONFIG_DIR"
  [[ $exec_start == "$want" ]] && pass "$exec_start" || fail "unit says '$exec_start', expected '$want'"
  grep -q '^Restart=on-failure$' "$unit" && pass "Restart=on-failure" || fail "no Restart=on-failure"
  grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit" && pass "ExecReload sends HUP" \
    || fail "no ExecReload sending HUP"
  grep -q "^ExecReload=$installed_bin validate -quiet $CONFIG_DIR\$" "$unit" \
    && pass "ExecReload validates $CONFIG_DIR first" || fail "no ExecReload validating $CONFIG_DIR"
  grep -q '^User=praetor$' "$unit" && pass "runs as User=praetor" || fail "no User=praetor"
else
  fail "no unit at ${unit#"$D"}"
fi

if [[ -f $sysusers ]] && grep -qE '^u praetor ' "$sysusers"; then
  pass "sysusers.d entry at ${sysusers#"$D"}"
else
  fail "no sysusers.d entry for praetor at ${sysusers#"$D"}"
fi
# systemd-sysusers applies it to a scratch root (never to this machine's /etc/passwd).
if [[ -f $sysusers ]] && command -v systemd-sysusers >/dev/null; then
  mkdir -p "$TMP/sysroot/etc"
  if out=$(systemd-sysusers --root="$TMP/sysroot" "$sysusers" 2>&1) \
    && grep -qE '^praetor:x:[0-9]+:[0-9]+:praetor agent:/var/lib/praetor:' "$TMP/sysroot/etc/passwd"; then
    pass "systemd-sysusers creates: $(grep '^praetor:' "$TMP/sysroot/etc/passwd")"
  else
    fail "systemd-sysusers on a scratch root: $out $(cat "$TMP/sysroot/etc/passwd" 2>/dev/null)"
  fi
fi

for f in server.json.example client.json.example; do
  [[ -f $D$CONFIG_DIR/$f ]] && pass "$CONFIG_DIR/$f" || fail "no $CONFIG_DIR/$f"
done
if [[ $(cat "$D$CONFIG_DIR/server.json") == '{"node_name": "operators-own"}' ]]; then
  pass "the operator's $CONFIG_DIR/server.json is untouched"
else
  fail "install changed $CONFIG_DIR/server.json"
fi
extra=$(cd "$D$CONFIG_DIR" && ls | grep -vxE 'server\.json|server\.json\.example|client\.json\.example' || true)
[[ -z $extra ]] && pass "nothing else in $CONFIG_DIR" || fail "unexpected files in $CONFIG_DIR: $extra"

# The examples, copied to a config dir as an operator would, are valid configuration.
if [[ -x $bin ]]; then
  for f in server client; do
    mkdir -p "$TMP/conf-$f"
    cp "$D$CONFIG_DIR/$f.json.example" "$TMP/conf-$f/$f.json"
    if out=$("$bin" validate "$TMP/conf-$f" 2>&1) && [[ $out == *"Configuration is valid!"* ]]; then
      pass "$f.json.example is valid: $(tr '\n' ' ' <<<"$out")"
    else
      fail "$f.json.example does not validate: $out"
    fi
  done
  # The config dir as installed (examples only, plus the operator's file) is read with the
  # examples skipped: the agent never loads a *.example file.
  out=$("$bin" validate "$D$CONFIG_DIR" 2>&1 || true)
  if [[ $out == *"skipping file"*"server.json.example"* ]]; then
    pass "praetor validate skips the *.example files"
  else
    fail "praetor validate on the installed config dir: $out"
  fi
fi

# systemd-analyze verify, on a copy of the unit whose binary paths point into the DESTDIR tree
# (verify checks that ExecStart's program exists; --root would also want sysinit.target there).
# It exits 0 even for lines it ignores ("Failed to parse ..."), so any remark about the unit's
# own lines fails the test too.
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$TMP/verify"
  sed "s#$installed_bin#$bin#g" "$unit" >"$TMP/verify/praetor.service"
  if out=$(systemd-analyze verify "$TMP/verify/praetor.service" 2>&1) && ! grep -q 'praetor.service' <<<"$out"; then
    pass "systemd-analyze verify accepts the unit${out:+ (said: $(tr '\n' ' ' <<<"$out"))}"
  else
    fail "systemd-analyze verify: $out"
  fi
else
  echo "note: no systemd-analyze, unit not verified"
fi

# ---- 2. another prefix: ExecStart follows it
D2=$TMP/opt
install_to "$D2" /opt/praetor
unit2=$(under "$D2" /opt/praetor "$UNIT_DIR")/praetor.service
bin2=$(under "" /opt/praetor "$BINDIR")/praetor
[[ -x $D2$bin2 ]] && pass "binary at $bin2 with --prefix /opt/praetor" || fail "no binary at $bin2"
exec_start=$(grep '^ExecStart=' "$unit2" 2>/dev/null || true)
[[ $exec_start == "ExecStart=$bin2 agent -config-dir=$CONFIG_DIR" ]] \
  && pass "--prefix /opt/praetor: $exec_start" || fail "--prefix /opt/praetor: unit says '$exec_start'"

if ((FAILS)); then
  echo "install_layout: $FAILS failed"
  exit 1
fi
echo "install_layout: all passed"
