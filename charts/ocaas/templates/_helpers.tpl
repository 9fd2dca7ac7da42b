{{/* The release's full name (at most 63 characters). */}}
{{- define "ocaas.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ocaas.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: ocaas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ocaas
{{- end -}}

{{/* The orchestrator pods' labels: its selector, and what sandboxes' network policies admit. */}}
{{- define "ocaas.selectorLabels" -}}
app.kubernetes.io/name: ocaas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: orchestrator
{{- end -}}

{{/* The same labels as the runtime's `key=value,...` selector setting. */}}
{{- define "ocaas.selectorString" -}}
{{- printf "app.kubernetes.io/name=ocaas,app.kubernetes.io/instance=%s,app.kubernetes.io/component=orchestrator" .Release.Name -}}
{{- end -}}

{{- define "ocaas.serviceAccountName" -}}
{{- default (include "ocaas.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "ocaas.sandboxNamespace" -}}
{{- default (printf "%s-sandboxes" .Release.Namespace) .Values.sandboxes.namespace -}}
{{- end -}}

{{- define "ocaas.secretName" -}}
{{- default (include "ocaas.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* `key=value,...` from a map. */}}
{{- define "ocaas.labelString" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
