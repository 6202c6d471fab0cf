{{/*
Pieces shared by the server Deployment and the migration Job, so both run
the binary with the same configuration, secrets and hardening.
*/}}

{{/* Environment of the service container. */}}
{{- define "affinity-service.env" -}}
{{- $kafka := include "affinity-service.kafka" . | fromYaml -}}
{{- $auth := include "affinity-service.auth" . | fromYaml -}}
{{- $db := include "affinity-service.databaseSecret" . | fromYaml -}}
{{- if not $kafka.brokers -}}
{{- fail "global.kafka.brokers (or kafka.brokers) is required: the Kafka bootstrap servers as host:port" -}}
{{- end -}}
{{- if not (or $auth.hs256Secret.name $auth.jwksURL $auth.jwksConfigMap.name) -}}
{{- fail "JWT verification is required: set global.auth.hs256Secret.name, global.auth.jwksURL or global.auth.jwksConfigMap.name" -}}
{{- end -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $db.name }}
      key: {{ $db.key }}
- name: KAFKA_BROKERS
  value: {{ join "," $kafka.brokers | quote }}
{{- if $kafka.tls.enabled }}
- name: KAFKA_TLS_ENABLED
  value: "true"
{{- if $kafka.tls.caSecret.name }}
- name: KAFKA_TLS_CA_FILE
  value: /etc/affinity/kafka-ca/{{ $kafka.tls.caSecret.key }}
{{- end }}
{{- if $kafka.tls.clientSecret.name }}
- name: KAFKA_TLS_CERT_FILE
  value: /etc/affinity/kafka-client/{{ $kafka.tls.clientSecret.certKey }}
- name: KAFKA_TLS_KEY_FILE
  value: /etc/affinity/kafka-client/{{ $kafka.tls.clientSecret.keyKey }}
{{- end }}
{{- end }}
{{- if $kafka.sasl.enabled }}
{{- if not (and $kafka.sasl.username $kafka.sasl.passwordSecret.name) -}}
{{- fail "kafka.sasl.enabled needs kafka.sasl.username and kafka.sasl.passwordSecret.name" -}}
{{- end }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $kafka.sasl.mechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ $kafka.sasl.username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.sasl.passwordSecret.name }}
      key: {{ $kafka.sasl.passwordSecret.key }}
{{- end }}
{{- if $auth.hs256Secret.name }}
- name: JWT_HS256_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $auth.hs256Secret.name }}
      key: {{ $auth.hs256Secret.key }}
{{- end }}
{{- if $auth.jwksURL }}
- name: JWKS_URL
  value: {{ $auth.jwksURL | quote }}
{{- end }}
{{- if $auth.jwksConfigMap.name }}
- name: JWKS_FILE
  value: /etc/affinity/jwks/{{ $auth.jwksConfigMap.key }}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{/*
Go runtime limits from the container's resources; call with
(dict "ctx" $ "resources" ...). GOMAXPROCS rounds the CPU limit up to whole
cores through the downward API.
*/}}
{{- define "affinity-service.goRuntimeEnv" -}}
{{- with (include "affinity-service.goMemLimit" (dict "resources" .resources "percent" .ctx.Values.goMemLimitPercent)) }}
- name: GOMEMLIMIT
  value: {{ . | quote }}
{{- end }}
- name: GOMAXPROCS
  valueFrom:
    resourceFieldRef:
      resource: limits.cpu
      divisor: "1"
{{- end -}}

{{- define "affinity-service.envFrom" -}}
- configMapRef:
    name: {{ include "affinity-service.fullname" . }}
{{- with .Values.envFrom }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volumes: a small writable /tmp plus the mounted key material. */}}
{{- define "affinity-service.volumes" -}}
{{- $kafka := include "affinity-service.kafka" . | fromYaml -}}
{{- $auth := include "affinity-service.auth" . | fromYaml -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
{{- if and $kafka.tls.enabled $kafka.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ $kafka.tls.caSecret.name }}
    items:
      - key: {{ $kafka.tls.caSecret.key }}
        path: {{ $kafka.tls.caSecret.key }}
{{- end }}
{{- if and $kafka.tls.enabled $kafka.tls.clientSecret.name }}
- name: kafka-client
  secret:
    secretName: {{ $kafka.tls.clientSecret.name }}
    items:
      - key: {{ $kafka.tls.clientSecret.certKey }}
        path: {{ $kafka.tls.clientSecret.certKey }}
      - key: {{ $kafka.tls.clientSecret.keyKey }}
        path: {{ $kafka.tls.clientSecret.keyKey }}
{{- end }}
{{- if $auth.jwksConfigMap.name }}
- name: jwks
  configMap:
    name: {{ $auth.jwksConfigMap.name }}
    items:
      - key: {{ $auth.jwksConfigMap.key }}
        path: {{ $auth.jwksConfigMap.key }}
{{- end }}
{{- end -}}

{{- define "affinity-service.volumeMounts" -}}
{{- $kafka := include "affinity-service.kafka" . | fromYaml -}}
{{- $auth := include "affinity-service.auth" . | fromYaml -}}
- name: tmp
  mountPath: /tmp
{{- if and $kafka.tls.enabled $kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/affinity/kafka-ca
  readOnly: true
{{- end }}
{{- if and $kafka.tls.enabled $kafka.tls.clientSecret.name }}
- name: kafka-client
  mountPath: /etc/affinity/kafka-client
  readOnly: true
{{- end }}
{{- if $auth.jwksConfigMap.name }}
- name: jwks
  mountPath: /etc/affinity/jwks
  readOnly: true
{{- end }}
{{- end -}}

{{- define "affinity-service.imagePullSecrets" -}}
{{- with .Values.global.image.pullSecrets -}}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end -}}
{{- end -}}
