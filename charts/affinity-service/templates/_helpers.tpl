{{/*
Shared helpers of the service chart. The umbrella chart includes
"affinity-service.fullname" too, so Ingress backends name the same Services.
*/}}

{{/* The service name: loyalty, referral, recommendation or segmentation. */}}
{{- define "affinity-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: <release>-<service> unless the release is already named after the service. */}}
{{- define "affinity-service.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "affinity-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "affinity-service.version" -}}
{{- default .Chart.AppVersion (default .Values.global.image.tag .Values.image.tag) | trunc 63 -}}
{{- end -}}

{{/* Selector labels: stable for the life of a release; never add to them. */}}
{{- define "affinity-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "affinity-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object; call with (dict "ctx" $ "component" "server"). */}}
{{- define "affinity-service.labels" -}}
{{- $ctx := .ctx -}}
helm.sh/chart: {{ include "affinity-service.chart" $ctx }}
{{ include "affinity-service.selectorLabels" $ctx }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: affinity
app.kubernetes.io/version: {{ include "affinity-service.version" $ctx | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
{{- with (merge (dict) $ctx.Values.global.labels) }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations of every object, plus extra (a dict) when given. */}}
{{- define "affinity-service.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) .ctx.Values.global.annotations -}}
{{- with $all -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{- define "affinity-service.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "affinity-service.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* image reference: repository[:tag][@digest]; "latest" is refused. */}}
{{- define "affinity-service.image" -}}
{{- $repo := default (printf "%s/%s" .Values.global.image.registry (include "affinity-service.name" .)) .Values.image.repository -}}
{{- $tag := include "affinity-service.version" . -}}
{{- if eq $tag "latest" -}}
{{- fail "image tag \"latest\" is not allowed: set image.tag or global.image.tag to a release version, or image.digest" -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/*
overlay returns base with every non-empty value of over laid on top, key by
key through nested maps, as YAML; call with (dict "base" ... "over" ...).
Empty strings, empty lists and false in over keep the base value, so a
service's unset override never clears a global setting.
*/}}
{{- define "affinity-service.overlay" -}}
{{- $out := deepCopy .base -}}
{{- range $k, $v := .over -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $out $k)) -}}
{{- $_ := set $out $k (include "affinity-service.overlay" (dict "base" (get $out $k) "over" $v) | fromYaml) -}}
{{- else if not (empty $v) -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Effective Kafka settings: global values overridden by this service's. */}}
{{- define "affinity-service.kafka" -}}
{{- include "affinity-service.overlay" (dict "base" .Values.global.kafka "over" .Values.kafka) -}}
{{- end -}}

{{/* Effective JWT verification settings. */}}
{{- define "affinity-service.auth" -}}
{{- include "affinity-service.overlay" (dict "base" .Values.global.auth "over" .Values.auth) -}}
{{- end -}}

{{/* Secret holding DATABASE_URL: name and key. */}}
{{- define "affinity-service.databaseSecret" -}}
{{- $name := .Values.database.existingSecret.name -}}
{{- $key := .Values.database.existingSecret.key -}}
{{- if .Values.database.cnpg.enabled -}}
{{- $name = default (printf "%s-app" (include "affinity-service.cnpgName" .)) $name -}}
{{- $key = default "uri" $key -}}
{{- else -}}
{{- $name = default (printf "%s-database" (include "affinity-service.fullname" .)) $name -}}
{{- $key = default "url" $key -}}
{{- end -}}
name: {{ $name }}
key: {{ $key }}
{{- end -}}

{{- define "affinity-service.cnpgName" -}}
{{- printf "%s-db" (include "affinity-service.fullname" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/*
GOMEMLIMIT in bytes: percent of resources.limits.memory; call with
(dict "resources" ... "percent" ...). Only the
plain binary and decimal suffixes are understood; anything else fails the
render with a message instead of guessing.
*/}}
{{- define "affinity-service.goMemLimit" -}}
{{- $limit := toString (dig "limits" "memory" "" .resources) -}}
{{- if $limit -}}
{{- $m := regexFindAll "^([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$" $limit 1 -}}
{{- if not $m -}}
{{- fail (printf "resources.limits.memory %q: use an integer with one of the suffixes Ki, Mi, Gi, Ti, k, M, G, T" $limit) -}}
{{- end -}}
{{- $num := regexFind "^[0-9]+" $limit | int64 -}}
{{- $suffix := trimPrefix (toString $num) $limit -}}
{{- $mult := get (dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000) $suffix | int64 -}}
{{- div (mul $num $mult .percent) 100 -}}
{{- end -}}
{{- end -}}

{{/* Pod anti-affinity preset (when .Values.affinity is empty). */}}
{{- define "affinity-service.affinity" -}}
{{- if .Values.affinity -}}
{{- toYaml .Values.affinity -}}
{{- else if eq .Values.podAntiAffinity "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "affinity-service.selectorLabels" . | nindent 10 }}
{{- else if eq .Values.podAntiAffinity "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "affinity-service.selectorLabels" . | nindent 12 }}
{{- end -}}
{{- end -}}

{{/* More than one replica can run: a PDB is then required. */}}
{{- define "affinity-service.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}
