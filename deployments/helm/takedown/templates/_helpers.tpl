{{/*
Helpers of the takedown chart. A service's templates are called with a dict:
  root: the top context ($), name: the service (ingest, hasher, matcher,
  review, enforcer), svc: its values (.Values.<name>).
*/}}

{{/* The five services, in pipeline order. */}}
{{- define "takedown.services" -}}
ingest hasher matcher review enforcer
{{- end -}}

{{- define "takedown.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name; 63 characters less the longest suffix (-enforcer). */}}
{{- define "takedown.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 53 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 53 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 53 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "takedown.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "takedown.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: takedown
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "takedown.selectorLabels" -}}
app.kubernetes.io/name: {{ include "takedown.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one service's objects: dict root name. */}}
{{- define "takedown.componentLabels" -}}
{{ include "takedown.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "takedown.componentSelector" -}}
{{ include "takedown.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "takedown.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "takedown.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference: dict root repository. */}}
{{- define "takedown.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
takedown.bytes: a Kubernetes memory quantity (512Mi, 1Gi, 1G, 1e9, 268435456)
as a float64 number of bytes, for the checks of takedown.checks.
*/}}
{{- define "takedown.bytes" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $suffix := trimPrefix $num $q -}}
{{- $units := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 -}}
{{- if and $num (hasKey $units $suffix) -}}
{{- mulf (float64 $num) (get $units $suffix) -}}
{{- else if regexMatch "^[0-9]+(\\.[0-9]+)?[eE][0-9]+$" $q -}}
{{- float64 $q -}}
{{- else -}}
{{- fail (printf "%q is not a memory quantity this chart reads (a number with Ki, Mi, Gi, Ti, k, M, G or T)" $q) -}}
{{- end -}}
{{- end -}}

{{/*
takedown.checks: what the schema cannot say, refused with a message naming
the values at fault. Called once, from the Deployments' template.
*/}}
{{- define "takedown.checks" -}}
{{- $root := . -}}
{{- range $name := splitList " " (include "takedown.services" $root) -}}
{{- $svc := index $root.Values $name -}}
{{- $req := $svc.resources.requests.memory -}}
{{- $lim := $svc.resources.limits.memory -}}
{{- if not (and $req $lim) -}}
{{- fail (printf "%s.resources: set both requests.memory and limits.memory (the Go memory limit follows limits.memory)" $name) -}}
{{- end -}}
{{- if gt (float64 (include "takedown.bytes" $req)) (float64 (include "takedown.bytes" $lim)) -}}
{{- fail (printf "%s.resources.requests.memory (%v) is above %s.resources.limits.memory (%v): the request must be at most the limit" $name $req $name $lim) -}}
{{- end -}}
{{- if not (and $svc.resources.requests.cpu $svc.resources.limits.cpu) -}}
{{- fail (printf "%s.resources: set both requests.cpu and limits.cpu" $name) -}}
{{- end -}}
{{- if and $svc.autoscaling.enabled (gt (int $svc.autoscaling.maxReplicas) (int $root.Values.topics.partitions)) -}}
{{- fail (printf "%s.autoscaling.maxReplicas (%v) is above topics.partitions (%v): a consumer group has at most one busy member per partition, so replicas beyond %v would sit idle. Lower %s.autoscaling.maxReplicas or raise topics.partitions (a topic's partitions can only grow)" $name $svc.autoscaling.maxReplicas $root.Values.topics.partitions $root.Values.topics.partitions $name) -}}
{{- end -}}
{{- if and $svc.autoscaling.enabled (gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling.minReplicas (%v) is above %s.autoscaling.maxReplicas (%v)" $name $svc.autoscaling.minReplicas $name $svc.autoscaling.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- /* The matcher holds every bank in its heap: ~320 bytes per entry (README), with a quarter more for the collector's room. */ -}}
{{- $m := $root.Values.matcher -}}
{{- $ratio := float64 (default $root.Values.goMemoryRatio $m.goMemoryRatio) -}}
{{- $heap := mulf (float64 (include "takedown.bytes" $m.resources.limits.memory)) $ratio -}}
{{- $need := mulf (float64 $m.bankEntriesMillions) 1e6 320.0 1.25 -}}
{{- if lt $heap $need -}}
{{- fail (printf "matcher.resources.limits.memory (%v) leaves %.0f MiB of Go heap (goMemoryRatio %v), under the %.0f MiB that matcher.bankEntriesMillions (%v million entries at ~320 bytes, plus a quarter) needs: raise the limit or check bankEntriesMillions" $m.resources.limits.memory (divf $heap 1048576.0) $ratio (divf $need 1048576.0) $m.bankEntriesMillions) -}}
{{- end -}}
{{- if and $root.Values.kafka.tls.existingSecret (not $root.Values.kafka.tls.enabled) -}}
{{- fail "kafka.tls.existingSecret is set but kafka.tls.enabled is false: set kafka.tls.enabled to true (or drop the Secret)" -}}
{{- end -}}
{{- if and $root.Values.kafka.sasl.mechanism (not $root.Values.kafka.sasl.existingSecret) -}}
{{- fail (printf "kafka.sasl.mechanism is %s but kafka.sasl.existingSecret is empty: the password comes from a Secret only" $root.Values.kafka.sasl.mechanism) -}}
{{- end -}}
{{- if and (or $root.Values.redis.passwordKey $root.Values.redis.urlKey $root.Values.redis.sentinel.passwordKey) (not $root.Values.redis.existingSecret) -}}
{{- fail "redis.passwordKey, redis.urlKey or redis.sentinel.passwordKey is set but redis.existingSecret is empty: Redis credentials come from a Secret only" -}}
{{- end -}}
{{- if and (or $root.Values.review.jwt.hs256Keys $root.Values.review.jwt.publicKeys) (not $root.Values.review.jwt.existingSecret) -}}
{{- fail "review.jwt.hs256Keys or review.jwt.publicKeys is set but review.jwt.existingSecret is empty: the keys are read from that Secret" -}}
{{- end -}}
{{- end -}}

{{/*
One NetworkPolicy egress rule to a peer of the values (kafka, redis...):
dict peer. A peer with no selector and no CIDR leaves "to" out: its ports
are open to any destination.
*/}}
{{- define "takedown.egressRule" -}}
{{- $p := .peer -}}
{{- $to := list -}}
{{- if or $p.namespaceSelector $p.podSelector -}}
{{- $peer := dict -}}
{{- if $p.namespaceSelector }}{{ $_ := set $peer "namespaceSelector" (dict "matchLabels" $p.namespaceSelector) }}{{ end -}}
{{- if $p.podSelector }}{{ $_ := set $peer "podSelector" (dict "matchLabels" $p.podSelector) }}{{ end -}}
{{- $to = append $to $peer -}}
{{- end -}}
{{- range $p.cidrs }}{{ $to = append $to (dict "ipBlock" (dict "cidr" .)) }}{{ end -}}
{{- $ports := list -}}
{{- range $p.ports }}{{ $ports = append $ports (dict "protocol" "TCP" "port" .) }}{{ end -}}
{{- $rule := dict "ports" $ports -}}
{{- if $to }}{{ $_ := set $rule "to" $to }}{{ end -}}
{{- toYaml (list $rule) -}}
{{- end -}}
