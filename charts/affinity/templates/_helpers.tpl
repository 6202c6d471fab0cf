{{/*
Helpers of the umbrella chart. Service names come from the service chart's
own helper (templates of subcharts are shared), so backends always name the
Services the subcharts render.
*/}}

{{/* The Service name of one service; call with (dict "root" $ "service" "loyalty"). */}}
{{- define "affinity.serviceFullname" -}}
{{- $values := index .root.Values .service -}}
{{- include "affinity-service.fullname" (dict "Values" $values "Release" .root.Release "Chart" (dict "Name" .service)) -}}
{{- end -}}

{{/* The HTTP port of one service. */}}
{{- define "affinity.serviceHTTPPort" -}}
{{- $values := index .root.Values .service -}}
{{- dig "ports" "http" 8080 $values -}}
{{- end -}}

{{- define "affinity.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: affinity
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: affinity
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.global.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.global.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Routes whose service is enabled, as a YAML list. */}}
{{- define "affinity.enabledRoutes" -}}
{{- $out := list -}}
{{- range .Values.routes -}}
{{- $svc := index $.Values .service | default dict -}}
{{- if not (hasKey $.Values .service) -}}
{{- fail (printf "routes: service %q is not one of loyalty, referral, recommendation, segmentation" .service) -}}
{{- end -}}
{{- if $svc.enabled -}}
{{- $out = append $out . -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Name of the console's objects. */}}
{{- define "affinity.consoleFullname" -}}
{{- printf "%s-console" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "affinity.consoleSelectorLabels" -}}
app.kubernetes.io/name: console
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "affinity.consoleLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{ include "affinity.consoleSelectorLabels" . }}
app.kubernetes.io/component: console
app.kubernetes.io/part-of: affinity
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.global.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.global.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}
