{{/*
The environment, volumes and mounts every takedown container shares: Kafka,
Redis, topics, tracing. Secrets are files under /etc/takedown (the services
read TAKEDOWN_*_FILE), never values in the chart.
*/}}

{{/* Plain settings, name to value, shared by the services and the topics Job: dict root. */}}
{{- define "takedown.kafkaTopicEnv" -}}
{{- $v := .root.Values -}}
{{- $e := dict "TAKEDOWN_KAFKA_BROKERS" $v.kafka.brokers "TAKEDOWN_LOG_FORMAT" "json" "TAKEDOWN_LOG_LEVEL" $v.logLevel -}}
{{- if $v.kafka.tls.enabled -}}
{{- $_ := set $e "TAKEDOWN_KAFKA_TLS" "true" -}}
{{- if $v.kafka.tls.caKey }}{{ $_ := set $e "TAKEDOWN_KAFKA_TLS_CA" "/etc/takedown/kafka-tls/ca.crt" }}{{ end -}}
{{- if $v.kafka.tls.certKey }}{{ $_ := set $e "TAKEDOWN_KAFKA_TLS_CERT" "/etc/takedown/kafka-tls/tls.crt" }}{{ end -}}
{{- if $v.kafka.tls.keyKey }}{{ $_ := set $e "TAKEDOWN_KAFKA_TLS_KEY" "/etc/takedown/kafka-tls/tls.key" }}{{ end -}}
{{- if $v.kafka.tls.serverName }}{{ $_ := set $e "TAKEDOWN_KAFKA_TLS_SERVER_NAME" $v.kafka.tls.serverName }}{{ end -}}
{{- end -}}
{{- if $v.kafka.sasl.mechanism -}}
{{- $_ := set $e "TAKEDOWN_KAFKA_SASL_MECHANISM" $v.kafka.sasl.mechanism -}}
{{- $_ := set $e "TAKEDOWN_KAFKA_SASL_PASSWORD_FILE" "/etc/takedown/kafka-sasl/password" -}}
{{- if and $v.kafka.sasl.username (not $v.kafka.sasl.usernameKey) }}{{ $_ := set $e "TAKEDOWN_KAFKA_SASL_USERNAME" $v.kafka.sasl.username }}{{ end -}}
{{- end -}}
{{- $_ := set $e "TAKEDOWN_TOPIC_PARTITIONS" (toString $v.topics.partitions) -}}
{{- $_ := set $e "TAKEDOWN_TOPIC_REPLICATION" (toString $v.topics.replication) -}}
{{- $_ := set $e "TAKEDOWN_TOPIC_RETENTION_MEDIA" $v.topics.retention.media -}}
{{- $_ := set $e "TAKEDOWN_TOPIC_RETENTION_REVIEW" $v.topics.retention.review -}}
{{- $_ := set $e "TAKEDOWN_TOPIC_RETENTION_AUDIT" $v.topics.retention.audit -}}
{{- $_ := set $e "TAKEDOWN_TOPIC_RETENTION_DLQ" $v.topics.retention.dlq -}}
{{- toYaml $e -}}
{{- end -}}

{{/* Plain settings of one service, name to value: dict root name svc. The service's env wins. */}}
{{- define "takedown.serviceEnv" -}}
{{- $v := .root.Values -}}
{{- $e := include "takedown.kafkaTopicEnv" . | fromYaml -}}
{{- /* In a pod the service listens on every interface (its default is loopback). */ -}}
{{- $_ := set $e "TAKEDOWN_HTTP_ADDR" ":8080" -}}
{{- $_ := set $e "TAKEDOWN_GO_MEMORY_RATIO" (toString (default $v.goMemoryRatio .svc.goMemoryRatio)) -}}
{{- if $v.topics.job.enabled }}{{ $_ := set $e "TAKEDOWN_CREATE_TOPICS" "false" }}{{ end -}}
{{- if $v.redis.addr }}{{ $_ := set $e "TAKEDOWN_REDIS_ADDR" $v.redis.addr }}{{ end -}}
{{- $_ := set $e "TAKEDOWN_REDIS_DB" (toString $v.redis.db) -}}
{{- $_ := set $e "TAKEDOWN_REDIS_PREFIX" $v.redis.prefix -}}
{{- if $v.redis.username }}{{ $_ := set $e "TAKEDOWN_REDIS_USERNAME" $v.redis.username }}{{ end -}}
{{- if $v.redis.passwordKey }}{{ $_ := set $e "TAKEDOWN_REDIS_PASSWORD_FILE" "/etc/takedown/redis/password" }}{{ end -}}
{{- if $v.redis.urlKey }}{{ $_ := set $e "TAKEDOWN_REDIS_URL_FILE" "/etc/takedown/redis/url" }}{{ end -}}
{{- if $v.redis.sentinel.master -}}
{{- $_ := set $e "TAKEDOWN_REDIS_SENTINEL_MASTER" $v.redis.sentinel.master -}}
{{- $_ := set $e "TAKEDOWN_REDIS_SENTINEL_ADDRS" $v.redis.sentinel.addrs -}}
{{- if $v.redis.sentinel.passwordKey }}{{ $_ := set $e "TAKEDOWN_REDIS_SENTINEL_PASSWORD_FILE" "/etc/takedown/redis/sentinel-password" }}{{ end -}}
{{- end -}}
{{- if $v.redis.tls.enabled -}}
{{- $_ := set $e "TAKEDOWN_REDIS_TLS" "true" -}}
{{- if $v.redis.tls.caKey }}{{ $_ := set $e "TAKEDOWN_REDIS_TLS_CA" "/etc/takedown/redis-tls/ca.crt" }}{{ end -}}
{{- if $v.redis.tls.certKey }}{{ $_ := set $e "TAKEDOWN_REDIS_TLS_CERT" "/etc/takedown/redis-tls/tls.crt" }}{{ end -}}
{{- if $v.redis.tls.keyKey }}{{ $_ := set $e "TAKEDOWN_REDIS_TLS_KEY" "/etc/takedown/redis-tls/tls.key" }}{{ end -}}
{{- if $v.redis.tls.serverName }}{{ $_ := set $e "TAKEDOWN_REDIS_TLS_SERVER_NAME" $v.redis.tls.serverName }}{{ end -}}
{{- end -}}
{{- if $v.otel.endpoint -}}
{{- $_ := set $e "OTEL_EXPORTER_OTLP_ENDPOINT" $v.otel.endpoint -}}
{{- $_ := set $e "OTEL_EXPORTER_OTLP_PROTOCOL" $v.otel.protocol -}}
{{- else -}}
{{- $_ := set $e "OTEL_TRACES_EXPORTER" "none" -}}
{{- end -}}
{{- /* Each service's own settings from its values. */ -}}
{{- if eq .name "hasher" }}{{ $_ := set $e "TMPDIR" "/tmp" }}{{ end -}}
{{- if eq .name "ingest" -}}
{{- if .svc.clients.existingSecret }}{{ $_ := set $e "TAKEDOWN_INGEST_CLIENTS_FILE" "/etc/takedown/ingest-clients/clients" }}{{ end -}}
{{- end -}}
{{- if eq .name "matcher" -}}
{{- if .svc.cacheSigningKey.existingSecret }}{{ $_ := set $e "TAKEDOWN_CACHE_SIGNING_KEY_FILE" "/etc/takedown/cache-signing-key/key" }}{{ end -}}
{{- if .svc.snapshot.enabled }}{{ $_ := set $e "TAKEDOWN_SNAPSHOT_DIR" "/var/lib/takedown/snapshot" }}{{ end -}}
{{- end -}}
{{- if eq .name "review" -}}
{{- $j := .svc.jwt -}}
{{- if $j.issuer }}{{ $_ := set $e "TAKEDOWN_JWT_ISSUER" $j.issuer }}{{ end -}}
{{- if $j.audience }}{{ $_ := set $e "TAKEDOWN_JWT_AUDIENCE" $j.audience }}{{ end -}}
{{- if $j.jwksURL }}{{ $_ := set $e "TAKEDOWN_JWT_JWKS_URL" $j.jwksURL }}{{ end -}}
{{- if $j.hs256Keys -}}
{{- $l := list -}}
{{- range $j.hs256Keys }}{{ $l = append $l (printf "%s=@/etc/takedown/jwt/%s" .kid .key) }}{{ end -}}
{{- $_ := set $e "TAKEDOWN_JWT_HS256_SECRETS" (join "," $l) -}}
{{- end -}}
{{- if $j.publicKeys -}}
{{- $l := list -}}
{{- range $j.publicKeys }}{{ $l = append $l (printf "%s=/etc/takedown/jwt/%s" .kid .key) }}{{ end -}}
{{- $_ := set $e "TAKEDOWN_JWT_PUBLIC_KEYS" (join "," $l) -}}
{{- end -}}
{{- end -}}
{{- if eq .name "enforcer" -}}
{{- if .svc.webhook.url }}{{ $_ := set $e "TAKEDOWN_WEBHOOK_URL" .svc.webhook.url }}{{ end -}}
{{- if .svc.webhook.existingSecret }}{{ $_ := set $e "TAKEDOWN_WEBHOOK_SECRET_FILE" "/etc/takedown/webhook/secret" }}{{ end -}}
{{- end -}}
{{- range $k, $val := .svc.env }}{{ $_ := set $e $k (toString $val) }}{{ end -}}
{{- toYaml $e -}}
{{- end -}}

{{/* env of a service's container: dict root name svc. */}}
{{- define "takedown.containerEnv" -}}
{{- $v := .root.Values -}}
{{- range $k, $val := include "takedown.serviceEnv" . | fromYaml }}
- name: {{ $k }}
  value: {{ toString $val | quote }}
{{- end }}
{{- /* The memory limit in bytes, from the downward API: the service sets GOMEMLIMIT to TAKEDOWN_GO_MEMORY_RATIO of it. */}}
- name: TAKEDOWN_MEMORY_LIMIT
  valueFrom:
    resourceFieldRef:
      containerName: {{ .name }}
      resource: limits.memory
      divisor: "1"
- name: TAKEDOWN_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.pod.name=$(TAKEDOWN_INSTANCE_ID),k8s.namespace.name=$(POD_NAMESPACE),service.instance.id=$(TAKEDOWN_INSTANCE_ID)%s" (ternary (printf ",%s" $v.otel.resourceAttributes) "" (ne $v.otel.resourceAttributes "")) | quote }}
{{- if and $v.kafka.sasl.mechanism $v.kafka.sasl.usernameKey }}
- name: TAKEDOWN_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.usernameKey }}
{{- end }}
{{- with .svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Secret volumes shared by the services and the Job: dict root. */}}
{{- define "takedown.kafkaVolumes" -}}
{{- $v := .root.Values -}}
{{- if and $v.kafka.tls.enabled $v.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ $v.kafka.tls.existingSecret }}
    defaultMode: 0440
    items:
      {{- if $v.kafka.tls.caKey }}
      - {key: {{ $v.kafka.tls.caKey | quote }}, path: ca.crt}
      {{- end }}
      {{- if $v.kafka.tls.certKey }}
      - {key: {{ $v.kafka.tls.certKey | quote }}, path: tls.crt}
      {{- end }}
      {{- if $v.kafka.tls.keyKey }}
      - {key: {{ $v.kafka.tls.keyKey | quote }}, path: tls.key}
      {{- end }}
{{- end }}
{{- if $v.kafka.sasl.mechanism }}
- name: kafka-sasl
  secret:
    secretName: {{ $v.kafka.sasl.existingSecret }}
    defaultMode: 0440
    items:
      - {key: {{ $v.kafka.sasl.passwordKey | quote }}, path: password}
{{- end }}
{{- end -}}

{{- define "takedown.kafkaMounts" -}}
{{- $v := .root.Values -}}
{{- if and $v.kafka.tls.enabled $v.kafka.tls.existingSecret }}
- {name: kafka-tls, mountPath: /etc/takedown/kafka-tls, readOnly: true}
{{- end }}
{{- if $v.kafka.sasl.mechanism }}
- {name: kafka-sasl, mountPath: /etc/takedown/kafka-sasl, readOnly: true}
{{- end }}
{{- end -}}

{{/* Volumes of a service's pod: dict root name svc. */}}
{{- define "takedown.volumes" -}}
{{- $v := .root.Values -}}
{{- /* The root file system is read-only: /tmp is the one place a service may write (the hasher's videos for ffmpeg; os.TempDir for the others). */}}
- name: tmp
  emptyDir:
    sizeLimit: {{ ternary .svc.tmpSizeLimit "64Mi" (eq .name "hasher") }}
{{- include "takedown.kafkaVolumes" . }}
{{- if and (or $v.redis.passwordKey $v.redis.urlKey $v.redis.sentinel.passwordKey) $v.redis.existingSecret }}
- name: redis
  secret:
    secretName: {{ $v.redis.existingSecret }}
    defaultMode: 0440
    items:
      {{- if $v.redis.passwordKey }}
      - {key: {{ $v.redis.passwordKey | quote }}, path: password}
      {{- end }}
      {{- if $v.redis.urlKey }}
      - {key: {{ $v.redis.urlKey | quote }}, path: url}
      {{- end }}
      {{- if $v.redis.sentinel.passwordKey }}
      - {key: {{ $v.redis.sentinel.passwordKey | quote }}, path: sentinel-password}
      {{- end }}
{{- end }}
{{- if and $v.redis.tls.enabled $v.redis.tls.existingSecret }}
- name: redis-tls
  secret:
    secretName: {{ $v.redis.tls.existingSecret }}
    defaultMode: 0440
    items:
      {{- if $v.redis.tls.caKey }}
      - {key: {{ $v.redis.tls.caKey | quote }}, path: ca.crt}
      {{- end }}
      {{- if $v.redis.tls.certKey }}
      - {key: {{ $v.redis.tls.certKey | quote }}, path: tls.crt}
      {{- end }}
      {{- if $v.redis.tls.keyKey }}
      - {key: {{ $v.redis.tls.keyKey | quote }}, path: tls.key}
      {{- end }}
{{- end }}
{{- if and (eq .name "ingest") .svc.clients.existingSecret }}
- name: ingest-clients
  secret:
    secretName: {{ .svc.clients.existingSecret }}
    defaultMode: 0440
    items:
      - {key: {{ .svc.clients.key | quote }}, path: clients}
{{- end }}
{{- if eq .name "matcher" }}
{{- if .svc.cacheSigningKey.existingSecret }}
- name: cache-signing-key
  secret:
    secretName: {{ .svc.cacheSigningKey.existingSecret }}
    defaultMode: 0440
    items:
      - {key: {{ .svc.cacheSigningKey.key | quote }}, path: key}
{{- end }}
{{- if .svc.snapshot.enabled }}
- name: snapshot
  emptyDir:
    sizeLimit: {{ .svc.snapshot.sizeLimit }}
{{- end }}
{{- end }}
{{- if and (eq .name "enforcer") .svc.webhook.existingSecret }}
- name: webhook
  secret:
    secretName: {{ .svc.webhook.existingSecret }}
    defaultMode: 0440
    items:
      - {key: {{ .svc.webhook.key | quote }}, path: secret}
{{- end }}
{{- if and (eq .name "review") .svc.jwt.existingSecret }}
- name: jwt
  secret:
    secretName: {{ .svc.jwt.existingSecret }}
    defaultMode: 0440
    items:
      {{- range concat .svc.jwt.hs256Keys .svc.jwt.publicKeys }}
      - {key: {{ .key | quote }}, path: {{ .key | quote }}}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "takedown.volumeMounts" -}}
{{- $v := .root.Values -}}
- {name: tmp, mountPath: /tmp}
{{- include "takedown.kafkaMounts" . }}
{{- if and (or $v.redis.passwordKey $v.redis.urlKey $v.redis.sentinel.passwordKey) $v.redis.existingSecret }}
- {name: redis, mountPath: /etc/takedown/redis, readOnly: true}
{{- end }}
{{- if and $v.redis.tls.enabled $v.redis.tls.existingSecret }}
- {name: redis-tls, mountPath: /etc/takedown/redis-tls, readOnly: true}
{{- end }}
{{- if and (eq .name "ingest") .svc.clients.existingSecret }}
- {name: ingest-clients, mountPath: /etc/takedown/ingest-clients, readOnly: true}
{{- end }}
{{- if eq .name "matcher" }}
{{- if .svc.cacheSigningKey.existingSecret }}
- {name: cache-signing-key, mountPath: /etc/takedown/cache-signing-key, readOnly: true}
{{- end }}
{{- if .svc.snapshot.enabled }}
- {name: snapshot, mountPath: /var/lib/takedown/snapshot}
{{- end }}
{{- end }}
{{- if and (eq .name "enforcer") .svc.webhook.existingSecret }}
- {name: webhook, mountPath: /etc/takedown/webhook, readOnly: true}
{{- end }}
{{- if and (eq .name "review") .svc.jwt.existingSecret }}
- {name: jwt, mountPath: /etc/takedown/jwt, readOnly: true}
{{- end }}
{{- end -}}

{{/*
Probes of a service: dict root name svc. Every service serves /healthz and
/readyz once it has checked Kafka, waited for its topics (up to a minute)
and checked Redis: the startupProbe gives that 150 s before liveness starts.
The matcher's startupProbe waits for /readyz instead, that is for its banks
to load, for a time sized from bankEntriesMillions and the measured load
rate; liveness (which would restart it) starts only after.
*/}}
{{- define "takedown.probes" -}}
{{- if eq .name "matcher" }}
{{- $s := .svc.startup }}
{{- $seconds := addf (float64 $s.baseSeconds) (mulf (float64 .svc.bankEntriesMillions) (float64 $s.secondsPerMillion) (float64 $s.safetyFactor)) }}
startupProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  # {{ $seconds }} s: {{ $s.baseSeconds }} s + {{ .svc.bankEntriesMillions }} million entries x {{ $s.secondsPerMillion }} s x {{ $s.safetyFactor }}
  failureThreshold: {{ ceil (divf $seconds 10) | int }}
{{- else }}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 30
{{- end }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  # Each check of /readyz (Kafka, Redis...) has 2 s.
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}
