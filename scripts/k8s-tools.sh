#!/usr/bin/env bash
# The Kubernetes tools of `make chart-check`, built from the package
# registries this project can reach (the Go module proxy and PyPI: no release
# tarball, image or container registry is reachable here) and cached under
# ~/.cache/takedown/<tool>-<version>, once per machine:
#   helm, kubeconform, kubectl, etcd and kube-apiserver (Go module proxy),
#   the Kubernetes JSON schemas of PyPI's kubernetes-validate, and JSON
#   schemas made from the CRDs of ServiceMonitor, PrometheusRule (the
#   prometheus-operator module) and ScaledObject (the KEDA module), with the
#   CRD YAMLs themselves for the API server.
# It also runs a real etcd and kube-apiserver on loopback test ports, so the
# chart is checked by the API server's own validation, and installed.
# Usage: scripts/k8s-tools.sh build [tool...]|start|stop|status|env
#   build   builds every tool (or the named ones: helm helm-docs kubeconform
#           schemas crds etcd apiserver); the API server is 6-10 CPU-minutes
#           cold, instant after
#   start   builds what is missing, starts etcd and kube-apiserver, waits until
#           the API server is ready and writes a kubeconfig ($DIR/kubeconfig)
#   stop    stops both (their data is kept; start wipes it)
#   env     prints the export lines the chart tests read
# ../shared/notes/KUBERNETES-OFFLINE.md of the project's workspace has the
# recipes this script follows.
set -euo pipefail

HELM_VERSION="${TAKEDOWN_HELM_VERSION:-v3.21.4}"
KUBECONFORM_VERSION="${TAKEDOWN_KUBECONFORM_VERSION:-v0.7.0}"
# The kubernetes-validate release whose schemas cover 1.25 to 1.37.
KUBERNETES_VALIDATE_VERSION="${TAKEDOWN_KUBERNETES_VALIDATE_VERSION:-1.37.0}"
PROMOP_VERSION="${TAKEDOWN_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
# Newer KEDA modules need a newer Go than the project's.
KEDA_VERSION="${TAKEDOWN_KEDA_VERSION:-v2.19.0}"
ETCD_VERSION="${TAKEDOWN_ETCD_VERSION:-v3.6.8}"
KUBE_VERSION="${TAKEDOWN_KUBE_VERSION:-v1.36.2}"
PYYAML_VERSION="${TAKEDOWN_PYYAML_VERSION:-6.0.2}"
# Generates the chart README's values reference from the comments of values.yaml.
HELM_DOCS_VERSION="${TAKEDOWN_HELM_DOCS_VERSION:-v1.14.2}"

CACHE_ROOT="${TAKEDOWN_CACHE:-${HOME:-/root}/.cache/takedown}"
HELM_DIR="$CACHE_ROOT/helm-$HELM_VERSION"
KUBECONFORM_DIR="$CACHE_ROOT/kubeconform-$KUBECONFORM_VERSION"
HELM_DOCS_DIR="$CACHE_ROOT/helm-docs-$HELM_DOCS_VERSION"
SCHEMAS_DIR="$CACHE_ROOT/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
CRDS_DIR="$CACHE_ROOT/crds-prometheus-operator-$PROMOP_VERSION-keda-$KEDA_VERSION"
ETCD_DIR="$CACHE_ROOT/etcd-$ETCD_VERSION"
KUBE_DIR="$CACHE_ROOT/kube-apiserver-$KUBE_VERSION"

ETCD_CLIENT_PORT="${TAKEDOWN_TEST_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${TAKEDOWN_TEST_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${TAKEDOWN_TEST_APISERVER_PORT:-26443}"
DIR="${TAKEDOWN_TEST_DATA:-/tmp/takedown-test}/k8s"
KUBECONFIG_FILE="$DIR/kubeconfig"

say() { echo "k8s-tools: $*" >&2; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

need_go() {
  command -v go >/dev/null || { say "Go is needed to build the Kubernetes tools"; return 1; }
  # The wrapper modules name go 1.26.8; the project's toolchain builds them.
  export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
}

need_apt() { # need_apt command package: apt-get installs package when command is missing
  command -v "$1" >/dev/null && return 0
  say "installing $2 with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "$2" >&2
}

# cached dir marker builder...: runs builder (with a temp dir as $1, to be
# filled with the tool's files) once per machine, under a lock, so parallel
# callers wait for one build instead of racing for the same directory.
cached() {
  local dir=$1 name=$2
  shift 2
  [[ -f "$dir/.complete" ]] && return 0
  mkdir -p "$CACHE_ROOT"
  local lockfd
  exec {lockfd}>"$CACHE_ROOT/.$(basename "$dir").lock"
  flock "$lockfd"
  if [[ -f "$dir/.complete" ]]; then exec {lockfd}>&-; return 0; fi
  say "building $name into $dir (once per machine)"
  local tmp start=$SECONDS
  tmp=$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")
  if ! "$@" "$tmp"; then
    say "building $name failed"
    rm -rf "$tmp"
    exec {lockfd}>&-
    return 1
  fi
  rm -rf "$dir" && mv "$tmp" "$dir" && touch "$dir/.complete"
  say "built $name in $((SECONDS - start)) s"
  exec {lockfd}>&-
}

build_helm() { # out
  need_go
  # The proxy build reports v3.21 unless the version is set by hand; a chart's
  # kubeVersion check and `helm version` should see the real one.
  (cd "$1" && GOFLAGS=-mod=mod GOBIN="$1/bin" CGO_ENABLED=0 go install \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2)
}

build_helm_docs() { # out
  need_go
  (cd "$1" && GOFLAGS=-mod=mod GOBIN="$1/bin" CGO_ENABLED=0 go install \
    "github.com/norwoodj/helm-docs/cmd/helm-docs@$HELM_DOCS_VERSION" >&2)
}

build_kubeconform() { # out
  need_go
  (cd "$1" && GOFLAGS=-mod=mod GOBIN="$1/bin" CGO_ENABLED=0 go install \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >&2) || return 1
  # Its CRD converter ships in the module zip, next to the command.
  local mod
  mod=$(cd "$1" && go mod download -json "github.com/yannh/kubeconform@$KUBECONFORM_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -f "$mod/scripts/openapi2jsonschema.py" ]] || { say "no scripts/openapi2jsonschema.py in $mod"; return 1; }
  cp "$mod/scripts/openapi2jsonschema.py" "$1/openapi2jsonschema.py"
}

python_venv() { # dir: a venv at dir
  rm -rf "$1"
  if ! python3 -m venv "$1" >/dev/null 2>&1; then
    # Debian's python3 has no venv module (ensurepip) without python3-venv.
    say "installing python3 and python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends python3 python3-venv >&2
    rm -rf "$1"
    python3 -m venv "$1" >&2
  fi
}

build_schemas() { # out
  python_venv "$1/venv"
  "$1/venv/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2 || return 1
  local src
  src=$(ls -d "$1"/venv/lib/python3*/site-packages/kubernetes_validate/kubernetes-json-schema 2>/dev/null | head -n1)
  [[ -d "$src" ]] || { say "kubernetes-validate ships no kubernetes-json-schema directory"; return 1; }
  # kubeconform reads the schemas as they are laid out, after two rewrites
  # without which every resource reports "could not find schema": the
  # references to the shared definitions are made relative, and the 2020-12
  # $schema line (which kubeconform's validator does not load) goes.
  mkdir -p "$1/schemas"
  cp -r "$src"/. "$1/schemas/"
  find "$1/schemas" -name '*.json' -print0 |
    xargs -0 -r sed -i -e 's#"/api/_definitions.json#"_definitions.json#g' \
      -e '/"\$schema": "https:\/\/json-schema.org\/draft\/2020-12\/schema",/d'
  # The venv's copy is not needed any more: 100 MB less in the cache.
  rm -rf "$src"
}

build_crds() { # out
  need_go
  [[ -f "$KUBECONFORM_DIR/.complete" ]] || cached "$KUBECONFORM_DIR" "kubeconform $KUBECONFORM_VERSION" build_kubeconform
  python_venv "$1/venv"
  "$1/venv/bin/pip" install -q "PyYAML==$PYYAML_VERSION" >&2 || return 1
  local promop keda
  promop=$(cd "$1" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMOP_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  keda=$(cd "$1" && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  mkdir -p "$1/yaml" "$1/schemas"
  cp "$promop"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$1/yaml/" || return 1
  cp "$keda"/config/crd/bases/keda.sh_*.yaml "$1/yaml/" || return 1
  chmod u+w "$1"/yaml/*.yaml
  # The schemas kubeconform finds by {kind}_{version}, lower case (its
  # default CRD lookup name is ResourceKind_ResourceAPIVersion).
  (cd "$1/schemas" && FILENAME_FORMAT='{kind}_{version}' \
    "$1/venv/bin/python" "$KUBECONFORM_DIR/openapi2jsonschema.py" "$1"/yaml/*.yaml >&2) || return 1
  ls "$1/schemas"/servicemonitor_v1.json "$1/schemas"/prometheusrule_v1.json "$1/schemas"/scaledobject_v1alpha1.json >/dev/null
}

build_etcd() { # out
  need_go
  # `go install` refuses etcd (its go.mod has local replace directives); a
  # wrapper module that requires the server module builds it.
  (cd "$1" && mkdir wrap && cd wrap && printf 'module etcdwrap\n\ngo 1.26.8\n' >go.mod &&
    GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 &&
    CGO_ENABLED=0 go build -trimpath -o "$1/bin/etcd" go.etcd.io/etcd/server/v3 >&2) || return 1
  rm -rf "$1/wrap"
}

build_apiserver() { # out
  need_go
  # k8s.io/kubernetes replaces its staging modules with local paths: a
  # wrapper module points them at their published versions (v0.X.Y for
  # Kubernetes v1.X.Y).
  local gomod staging
  gomod=$(cd "$1" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || { say "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"; return 1; }
  staging="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$1/wrap"
  { echo 'module apiserverwrap'; echo; echo 'go 1.26.8'; echo; echo 'replace (';
    grep '=> ./staging' "$gomod" | awk -v v="$staging" '{print "\t"$1" => "$1" "v}'; echo ')'; } >"$1/wrap/go.mod"
  local minor=${KUBE_VERSION#v1.}
  minor=${minor%%.*}
  # Without the version ldflags the binaries report v0.0.0-master, which
  # fails every chart's kubeVersion constraint.
  local ld="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  (cd "$1/wrap" &&
    GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION" >&2 &&
    CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$1/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2 &&
    # kubectl of the same version: no client/server skew, and machines
    # without a kubectl get one.
    CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$1/bin/kubectl" k8s.io/kubernetes/cmd/kubectl >&2) || return 1
  rm -rf "$1/wrap"
}

build_one() {
  case "$1" in
    helm) cached "$HELM_DIR" "helm $HELM_VERSION" build_helm ;;
    helm-docs) cached "$HELM_DOCS_DIR" "helm-docs $HELM_DOCS_VERSION" build_helm_docs ;;
    kubeconform) cached "$KUBECONFORM_DIR" "kubeconform $KUBECONFORM_VERSION" build_kubeconform ;;
    schemas) cached "$SCHEMAS_DIR" "the Kubernetes schemas of kubernetes-validate $KUBERNETES_VALIDATE_VERSION" build_schemas ;;
    crds) cached "$CRDS_DIR" "the CRD schemas of prometheus-operator $PROMOP_VERSION and KEDA $KEDA_VERSION" build_crds ;;
    etcd) cached "$ETCD_DIR" "etcd $ETCD_VERSION" build_etcd ;;
    apiserver)
      [[ -f "$KUBE_DIR/.complete" ]] || say "kube-apiserver and kubectl take 6-10 CPU-minutes and 2.3 GB of RAM to build, once"
      cached "$KUBE_DIR" "kube-apiserver and kubectl $KUBE_VERSION" build_apiserver ;;
    *) say "unknown tool $1 (helm helm-docs kubeconform schemas crds etcd apiserver)"; return 2 ;;
  esac
}

build() {
  local t
  if (($# == 0)); then set -- helm helm-docs kubeconform schemas crds etcd apiserver; fi
  for t in "$@"; do build_one "$t"; done
}

lock() { mkdir -p "$DIR"; exec 9>"$DIR/.lock"; flock 9; }

our_pid() { # our_pid name binary: the pid of the pid file, only if it still runs binary
  local pid
  pid=$(cat "$DIR/$1.pid" 2>/dev/null) || return 1
  grep -qa "$2" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

kubectl_bin() { echo "$KUBE_DIR/bin/kubectl"; }

api_ready() {
  "$(kubectl_bin)" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=2s get --raw /readyz >/dev/null 2>&1
}

stop_pid() { # stop_pid name pid
  kill -TERM "$2" 2>/dev/null || true
  for _ in $(seq 40); do
    kill -0 "$2" 2>/dev/null || { rm -f "$DIR/$1.pid"; return 0; }
    sleep 0.25
  done
  kill -KILL "$2" 2>/dev/null || true
  rm -f "$DIR/$1.pid"
}

start() {
  build etcd apiserver
  need_apt openssl openssl
  lock
  local epid apid
  if epid=$(our_pid etcd "$ETCD_DIR/bin/etcd") && apid=$(our_pid kube-apiserver "$KUBE_DIR/bin/kube-apiserver") && api_ready; then
    return 0
  fi
  # A half-running pair (one crashed): start both afresh.
  if epid=$(our_pid etcd "$ETCD_DIR/bin/etcd"); then stop_pid etcd "$epid"; fi
  if apid=$(our_pid kube-apiserver "$KUBE_DIR/bin/kube-apiserver"); then stop_pid kube-apiserver "$apid"; fi
  local p
  for p in "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT"; do
    if port_open "$p"; then
      say "something else listens on 127.0.0.1:$p; set TAKEDOWN_TEST_ETCD_PORT, TAKEDOWN_TEST_ETCD_PEER_PORT or TAKEDOWN_TEST_APISERVER_PORT to free ports"
      return 1
    fi
  done
  # A fresh cluster each start: no release or CRD of an earlier run is left.
  rm -rf "$DIR/etcd-data" "$DIR/certs"
  mkdir -p "$DIR/certs"
  if [[ ! -f "$DIR/sa.key" ]]; then
    openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
    openssl rsa -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub" 2>/dev/null
  fi
  local token
  if [[ ! -f "$DIR/tokens.csv" ]]; then
    token=$(openssl rand -hex 16)
    echo "$token,admin,admin,system:masters" >"$DIR/tokens.csv"
    chmod 600 "$DIR/tokens.csv"
  fi
  token=$(cut -d, -f1 "$DIR/tokens.csv")
  cat >"$KUBECONFIG_FILE" <<EOF
# written by scripts/k8s-tools.sh: the test kube-apiserver on loopback
apiVersion: v1
kind: Config
clusters:
  - name: takedown-test
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      insecure-skip-tls-verify: true
users:
  - name: admin
    user:
      token: $token
contexts:
  - name: takedown-test
    context: {cluster: takedown-test, user: admin, namespace: default}
current-context: takedown-test
EOF
  chmod 600 "$KUBECONFIG_FILE"
  say "starting etcd $ETCD_VERSION on 127.0.0.1:$ETCD_CLIENT_PORT and kube-apiserver $KUBE_VERSION on 127.0.0.1:$APISERVER_PORT (logs in $DIR)"
  # setsid: both outlive this shell; 9>&-: neither holds our lock.
  setsid nohup "$ETCD_DIR/bin/etcd" --data-dir "$DIR/etcd-data" --name default \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    >"$DIR/etcd.log" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/etcd.pid"
  for _ in $(seq 40); do port_open "$ETCD_CLIENT_PORT" && break; sleep 0.25; done
  setsid nohup "$KUBE_DIR/bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" --cert-dir "$DIR/certs" \
    --token-auth-file "$DIR/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$DIR/sa.pub" \
    --service-account-signing-key-file "$DIR/sa.key" --service-cluster-ip-range 10.96.0.0/24 \
    --advertise-address 127.0.0.1 --enable-priority-and-fairness=false \
    >"$DIR/kube-apiserver.log" 2>&1 </dev/null 9>&- &
  echo $! >"$DIR/kube-apiserver.pid"
  local start=$SECONDS
  for _ in $(seq 240); do
    if api_ready; then
      # The default namespace and the built-in priority classes come from the
      # server's own bootstrap controllers: wait for them too.
      if "$(kubectl_bin)" --kubeconfig "$KUBECONFIG_FILE" get namespace default >/dev/null 2>&1; then
        say "kube-apiserver ready after $((SECONDS - start)) s"
        return 0
      fi
    fi
    apid=$(our_pid kube-apiserver "$KUBE_DIR/bin/kube-apiserver") || break
    sleep 0.25
  done
  say "kube-apiserver did not come up; last lines of $DIR/kube-apiserver.log and $DIR/etcd.log:"
  tail -n 30 "$DIR/kube-apiserver.log" "$DIR/etcd.log" >&2 2>/dev/null || true
  return 1
}

stop() {
  lock
  local pid
  if pid=$(our_pid kube-apiserver "$KUBE_DIR/bin/kube-apiserver"); then say "stopping kube-apiserver (pid $pid)"; stop_pid kube-apiserver "$pid"; fi
  if pid=$(our_pid etcd "$ETCD_DIR/bin/etcd"); then say "stopping etcd (pid $pid)"; stop_pid etcd "$pid"; fi
  return 0
}

env_lines() {
  echo "export TAKEDOWN_TEST_HELM=$HELM_DIR/bin/helm"
  echo "export TAKEDOWN_TEST_HELM_DOCS=$HELM_DOCS_DIR/bin/helm-docs"
  echo "export TAKEDOWN_TEST_KUBECONFORM=$KUBECONFORM_DIR/bin/kubeconform"
  echo "export TAKEDOWN_TEST_KUBECTL=$(kubectl_bin)"
  echo "export TAKEDOWN_TEST_K8S_SCHEMAS=$SCHEMAS_DIR/schemas"
  echo "export TAKEDOWN_TEST_CRD_SCHEMAS=$CRDS_DIR/schemas"
  echo "export TAKEDOWN_TEST_CRDS=$CRDS_DIR/yaml"
  echo "export TAKEDOWN_TEST_KUBECONFIG=$KUBECONFIG_FILE"
  # helm keeps its cache, configuration and repositories here, not in $HOME.
  echo "export TAKEDOWN_TEST_HELM_HOME=$DIR/helm"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  start) start ;;
  stop) stop ;;
  status)
    if api_ready; then say "kube-apiserver up on 127.0.0.1:$APISERVER_PORT (kubeconfig $KUBECONFIG_FILE)"
    else say "down"; exit 1; fi ;;
  env) env_lines ;;
  *) echo "usage: $0 build [helm|helm-docs|kubeconform|schemas|crds|etcd|apiserver...]|start|stop|status|env" >&2; exit 2 ;;
esac
